"""A listing's items, the documents they lead to, and each document's fate."""
