// Task pane: outside Excel (Office.js absent, or a plain browser where Office.js finds no host)
// the buttons are disabled and a bilingual notice says how to open the add-in. Office.onReady()
// may never settle when it is called after Office.js has given up on finding a host, so the
// page decides after a short wait and changes its mind if a host turns up later.
const SHINSEI_HOST_WAIT_MS = 3000;

function shinseiSetOutside(outside, reason) {
  const notice = document.getElementById("shinsei-no-office");
  if (notice) notice.classList.toggle("d-none", !outside);
  // xlwings Server's own "didn't load properly" overlay would cover the page; the notice says
  // more and has its own reload button.
  document.body.classList.toggle("shinsei-outside-office", outside);
  document.querySelectorAll("[xw-click]").forEach((button) => {
    button.disabled = outside;
  });
  document.body.dataset.officeHost = outside ? "none" : String(reason);
  if (outside) console.info("shinsei: not inside Excel:", reason);
}

function shinseiDetectHost() {
  if (typeof Office === "undefined" || typeof Office.onReady !== "function") {
    shinseiSetOutside(true, "Office.js not loaded");
    return;
  }
  const timer = setTimeout(() => shinseiSetOutside(true, "no Office host"), SHINSEI_HOST_WAIT_MS);
  Office.onReady()
    .then((info) => {
      clearTimeout(timer);
      if (info && info.host) {
        shinseiSetOutside(false, info.host);
      } else {
        shinseiSetOutside(true, "no Office host");
      }
    })
    .catch((error) => {
      clearTimeout(timer);
      shinseiSetOutside(true, error);
    });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", shinseiDetectHost);
} else {
  shinseiDetectHost();
}

document.addEventListener("DOMContentLoaded", () => {
  const reload = document.getElementById("shinsei-reload");
  if (reload) reload.addEventListener("click", () => window.location.reload());
});
