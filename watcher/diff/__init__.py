"""Pure diffs of two texts, their renderers (text, HTML, JSON) and bounded excerpts."""
