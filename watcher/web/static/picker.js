// watcher's target editor: runs inside the sandboxed preview of a fetched page (an
// opaque origin, the page's own scripts taken out). A click names the element as a
// CSS selector and tells the editor; the editor asks for regions to be outlined.
"use strict";
(() => {
  const NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
  const HOVER = "2px dashed #c05621";
  const CHOSEN = "3px solid #2b6cb0";
  let hovered = null;
  let chosen = [];

  const unique = (selector) => {
    try { return document.querySelectorAll(selector).length === 1; } catch (e) { return false; }
  };
  const idOf = (el) => (el.id && NAME.test(el.id) && unique("#" + el.id) ? "#" + el.id : "");
  const segment = (el, numbered) => {
    let part = el.tagName.toLowerCase();
    const classes = Array.from(el.classList).filter((c) => NAME.test(c)).slice(0, 2);
    if (classes.length) part += "." + classes.join(".");
    if (numbered && el.parentElement) {
      // numbered only among siblings that the part alone would not tell apart
      const same = Array.from(el.parentElement.children).filter((c) => c.tagName === el.tagName);
      const alike = same.filter((c) => classes.every((name) => c.classList.contains(name)));
      if (alike.length > 1) part += ":nth-of-type(" + (same.indexOf(el) + 1) + ")";
    }
    return part;
  };
  // the shortest path of ids, tags and classes that names this element alone; tbody is
  // left out (browsers add it, the server's parser does not)
  const selectorFor = (el) => {
    for (const numbered of [false, true]) {
      let path = "";
      let joint = " > ";
      for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
        const tag = node.tagName.toLowerCase();
        if (tag === "html") break;
        if (tag === "tbody") { joint = " "; continue; }
        const id = idOf(node);
        const part = id || segment(node, numbered);
        path = path ? part + joint + path : part;
        joint = " > ";
        if (id || tag === "body") break;
        if (unique(path)) return path;
      }
      if (unique(path)) return path;
    }
    return "body";
  };
  const outline = (elements, style) => elements.forEach((el) => { el.style.outline = style; });

  document.addEventListener("mouseover", (event) => {
    if (hovered && !chosen.includes(hovered)) hovered.style.outline = "";
    hovered = event.target;
    if (!chosen.includes(hovered)) hovered.style.outline = HOVER;
  }, true);
  document.addEventListener("click", (event) => {
    event.preventDefault();
    event.stopPropagation();
    const selector = selectorFor(event.target);
    parent.postMessage({ type: "watcher-pick", selector: selector }, "*");
  }, true);
  document.addEventListener("submit", (event) => event.preventDefault(), true);
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (event.source !== parent || !data || data.type !== "watcher-outline") return;
    outline(chosen, "");
    chosen = [];
    if (typeof data.selector !== "string" || !data.selector) return;
    try { chosen = Array.from(document.querySelectorAll(data.selector)); } catch (e) { return; }
    outline(chosen, CHOSEN);
    if (chosen.length) chosen[0].scrollIntoView({ block: "nearest" });
  });
})();
