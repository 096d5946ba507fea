// Flash messages (#flash-info, #flash-error, written by the root layout) go
// away when clicked, as Phoenix's core components do.
export function dismissableFlash(root) {
  for (const el of root.querySelectorAll("[role=alert][id^=flash-]")) {
    el.title = "click to dismiss";
    el.addEventListener("click", () => el.remove());
  }
}
