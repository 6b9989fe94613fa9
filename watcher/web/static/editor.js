// watcher's target editor: a click in the preview, a typed selector or an accepted
// proposal re-reads the kept page on the server, and the stored text and the
// keyword hits follow at once. Without scripts the form still saves.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("target-form");
  const frame = document.getElementById("preview");
  if (!form || !form.dataset.draft) return;
  const select = document.getElementById("target-select");
  const follow = document.getElementById("target-follow");
  const text = document.getElementById("stored-text");
  const size = document.getElementById("text-size");
  const problem = document.getElementById("text-error");
  const hits = document.getElementById("draft-hits");
  const csrf = form.querySelector('input[name="csrf"]').value;
  let asked = 0;
  let region = ""; // an accepted proposal's region, outlined when no selector is set

  const outline = (selector) => {
    if (frame && frame.contentWindow) {
      frame.contentWindow.postMessage({ type: "watcher-outline", selector: selector }, "*");
    }
  };
  const groups = () =>
    Array.from(form.querySelectorAll('input[name="keywords"]:checked')).map((box) => box.value);
  const showHits = (found) => {
    hits.replaceChildren();
    if (!found.length) {
      const none = document.createElement("li");
      none.className = "sub";
      none.textContent = "none";
      hits.append(none);
    }
    for (const hit of found) {
      const li = document.createElement("li");
      const group = document.createElement("b");
      group.textContent = hit.group;
      const where = document.createElement("span");
      where.lang = "zh-CN";
      where.textContent = hit.snippet;
      li.append(group, " " + hit.term + " ×" + hit.count + ": ", where);
      hits.append(li);
    }
  };
  const refresh = async () => {
    const mine = ++asked;
    form.classList.add("updating");
    let answer;
    try {
      const response = await fetch("/targets/drafts/" + form.dataset.draft + "/text", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ select: select.value, keywords: groups() }),
      });
      answer = await response.json();
    } catch (error) {
      answer = { error: "the server did not answer: " + error, text: "", hits: [] };
    }
    if (mine !== asked) return; // a newer selector was asked for meanwhile
    form.classList.remove("updating");
    problem.hidden = !answer.error;
    problem.textContent = answer.error || "";
    text.textContent = answer.text || "";
    size.textContent = String(answer.characters || 0);
    showHits(answer.hits || []);
    outline(select.value || region);
  };
  let timer = 0;
  const soon = () => { clearTimeout(timer); timer = setTimeout(refresh, 300); };

  select.addEventListener("input", soon);
  form.querySelectorAll('input[name="keywords"]').forEach((box) => box.addEventListener("change", refresh));
  // the preview's own script names the clicked element; only that frame, only that shape
  window.addEventListener("message", (event) => {
    const data = event.data;
    if (!frame || event.source !== frame.contentWindow || event.origin !== "null") return;
    if (!data || data.type !== "watcher-pick" || typeof data.selector !== "string") return;
    if (!data.selector || data.selector.length > 500) return;
    select.value = data.selector;
    region = "";
    refresh();
  });
  if (frame) frame.addEventListener("load", () => outline(select.value || region));
  document.querySelectorAll(".accept-proposal").forEach((button) => {
    button.addEventListener("click", () => {
      const item = button.closest(".proposal");
      const fragment = JSON.parse(item.dataset.fragment);
      // keys besides select and follow (a JSON listing's url and headers) go along as they are
      const rest = Object.fromEntries(
        Object.entries(fragment).filter(([key]) => key !== "select" && key !== "follow"));
      const extra = document.getElementById("target-extra");
      const note = document.getElementById("extra-note");
      extra.value = Object.keys(rest).length ? JSON.stringify(rest) : "";
      note.hidden = !extra.value;
      note.textContent = extra.value
        ? "Also written: " + extra.value + (rest.url ? " (the target watches that address;"
          + " the text shown is this page's)" : "")
        : "";
      follow.value = "";
      if (fragment.follow) {
        follow.value = JSON.stringify(fragment.follow);
        select.value = "";
      }
      if (fragment.select) {
        select.value = Array.isArray(fragment.select) ? fragment.select.join(", ") : fragment.select;
      }
      document.querySelectorAll(".proposal").forEach((p) => p.classList.remove("accepted"));
      item.classList.add("accepted");
      region = item.dataset.selector || "";
      refresh();
    });
  });
});
