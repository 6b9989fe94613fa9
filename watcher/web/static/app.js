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
