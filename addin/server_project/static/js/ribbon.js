// Ribbon buttons (manifest.xml: ExecuteFunction). Each runs one custom script of addin/scripts.py.
// Outside Excel (a browser opening the task pane page) there is nothing to associate.
const shinseiRibbonScripts = {
  "shinsei-validate": "validate",
  "shinsei-presubmission-check": "presubmission_check",
  "shinsei-clear": "clear",
  "shinsei-export-json": "export_json",
};

function shinseiRibbonHandler(scriptName) {
  return async function (event) {
    try {
      const authResult =
        typeof globalThis.getAuth === "function"
          ? await globalThis.getAuth()
          : { token: "", provider: "" };
      await xlwings.runPython({
        auth: authResult.token,
        scriptName: scriptName,
        headers: { "Auth-Provider": authResult.provider },
      });
    } finally {
      event.completed();
    }
  };
}

try {
  if (typeof Office !== "undefined" && Office.actions && Office.actions.associate) {
    for (const [actionId, scriptName] of Object.entries(shinseiRibbonScripts)) {
      Office.actions.associate(actionId, shinseiRibbonHandler(scriptName));
    }
  }
} catch (error) {
  console.warn("shinsei: ribbon buttons not associated (not running inside Excel)", error);
}
