// Task pane: outside Excel (Office.js absent, or a plain browser where Office.onReady reports
// no host) the buttons are disabled and a bilingual notice says how to open the add-in.
function shinseiOutsideExcel(reason) {
  const notice = document.getElementById("shinsei-no-office");
  if (notice) notice.classList.remove("d-none");
  // xlwings Server's own "didn't load properly" overlay would cover the page; the notice says more
  // and has its own reload button.
  document.body.classList.add("shinsei-outside-office");
  document.querySelectorAll("[xw-click]").forEach((button) => {
    button.disabled = true;
  });
  document.body.dataset.officeHost = "none";
  console.info("shinsei: not inside Excel:", reason);
}

function shinseiInsideExcel(info) {
  document.body.dataset.officeHost = String(info.host);
}

if (typeof Office === "undefined" || typeof Office.onReady !== "function") {
  document.addEventListener("DOMContentLoaded", () => shinseiOutsideExcel("Office.js not loaded"));
} else {
  Office.onReady()
    .then((info) => (info && info.host ? shinseiInsideExcel(info) : shinseiOutsideExcel("no Office host")))
    .catch((error) => shinseiOutsideExcel(error));
}

document.addEventListener("DOMContentLoaded", () => {
  const reload = document.getElementById("shinsei-reload");
  if (reload) reload.addEventListener("click", () => window.location.reload());
});
