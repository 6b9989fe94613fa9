// watcher: a little progressive enhancement; every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // next / previous change on the diff page (n / p keys too)
  const changes = Array.from(document.querySelectorAll('[id^="change-"]'));
  if (changes.length) {
    let current = -1;
    const go = (step) => {
      current = (current + step + changes.length) % changes.length;
      changes.forEach((el) => el.classList.remove("current"));
      const el = changes[current];
      el.classList.add("current");
      el.scrollIntoView({ block: "center" });
      history.replaceState(null, "", "#" + el.id);
    };
    document.querySelectorAll("[data-nav]").forEach((a) => {
      a.addEventListener("click", (event) => {
        event.preventDefault();
        go(a.dataset.nav === "next" ? 1 : -1);
      });
    });
    document.addEventListener("keydown", (event) => {
      if (event.target.closest("input, textarea, select")) return;
      if (event.key === "n" || event.key === "j") go(1);
      if (event.key === "p" || event.key === "k") go(-1);
    });
  }
});

// the inbox: j / k move, r / i / x mark reviewed / important / noise, o opens the diff
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("inbox-bulk");
  if (!form) return;
  const items = Array.from(form.querySelectorAll("li.item"));
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", () => {
      form.querySelectorAll('input[name="ids"]').forEach((box) => { box.checked = all.checked; });
    });
  }
  let current = -1;
  const go = (step) => {
    if (!items.length) return;
    current = Math.max(0, Math.min(items.length - 1, current + step));
    items.forEach((el) => el.classList.remove("current"));
    const el = items[current];
    el.classList.add("current");
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  };
  const mark = async (el, action) => {
    const body = new URLSearchParams({ csrf: form.dataset.csrf, action: action, next: "/inbox" });
    body.append("ids", el.dataset.id);
    const answer = await fetch("/inbox/bulk", { method: "POST", body: body, redirect: "manual" });
    if (answer.type !== "opaqueredirect" && !answer.ok) return;
    el.classList.remove("st-reviewed", "st-important", "st-noise", "unread");
    el.classList.add("st-" + action);
    el.querySelector(".state").textContent = action;
  };
  const keys = { r: "reviewed", i: "important", x: "noise" };
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "j") go(1);
    else if (event.key === "k") go(-1);
    else if (current >= 0 && keys[event.key]) mark(items[current], keys[event.key]);
    else if (current >= 0 && event.key === "o" && items[current].dataset.open) window.location.href = items[current].dataset.open;
    else if (current >= 0 && event.key === "Enter") window.location.href = items[current].dataset.item;
    else return;
    event.preventDefault();
  });
});

// Copy buttons (a capture's citation, a noise item's rule): the text of the element named by
// data-copy goes to the clipboard; without the clipboard API (a plain-HTTP address) it is
// selected for Ctrl+C instead
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    button.hidden = false;
    const said = button.parentElement.querySelector(".copied");
    const tell = (words) => { if (said) said.textContent = words; else button.textContent = words; };
    button.addEventListener("click", async () => {
      const text = "value" in source ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text);
        tell("Copied.");
      } catch (error) {
        if ("select" in source) {
          source.select();
        } else {
          const range = document.createRange();
          range.selectNodeContents(source);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        }
        tell(document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.");
      }
    });
  });
});
