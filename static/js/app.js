// The little JavaScript the sending list needs; every page also works without it.
// Its strings come from Django's JavaScript catalog (/jsi18n/, loaded just before this file);
// should the catalog not load, they stay in English.
var gettext = window.gettext || function (text) { return text; };
var interpolate = window.interpolate || function (format, values) {
  return format.replace(/%\((\w+)\)s/g, function (_, name) { return String(values[name]); });
};

(function () {
  "use strict";

  // The eye buttons and the menus' Cancel load their content into a shared dialog: open it.
  var DIALOGS = {"batches-dialog-content": "batches-dialog", "confirm-dialog-content": "confirm-dialog"};
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    var dialog = target && DIALOGS[target.id] && document.getElementById(DIALOGS[target.id]);
    if (dialog && !dialog.open) dialog.showModal();
  });

  // Once the confirmation was answered (the row is swapped in place), close the dialog.
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = event.detail.elt.closest && event.detail.elt.closest("#confirm-dialog");
    if (dialog && dialog.open && event.detail.requestConfig.verb === "post") dialog.close();
  });

  // A polled row must not vanish under an open menu or dialog: skip that tick, poll the next.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-poll") &&
        elt.querySelector(":popover-open, dialog[open]")) {
      event.preventDefault();
    }
  });

  // After an action replaced a row, put the keyboard focus back on that row's menu button.
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail.requestConfig;
    var target = event.detail.target;
    if (!config || config.verb !== "post" || !target) return;
    var row = target.id && target.id.indexOf("row-") === 0 ? document.getElementById(target.id) : null;
    var button = row && row.querySelector("[popovertarget^='menu-']");
    if (button) button.focus();
  });

  // Errors htmx does not swap (500, 403, network): say so instead of failing silently.
  function showError(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var message = document.createElement("div");
    message.className = "message message-error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    box.replaceChildren(message);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) showError(gettext("You don't have permission to do that."));
    else if (status === 404) showError(gettext("That sending no longer exists or is not yours to see."));
    else showError(interpolate(gettext("Something went wrong (%(status)s). Please reload the page and try again."), {status: status}, true));
  });
  document.addEventListener("htmx:sendError", function () {
    showError(gettext("The server could not be reached. Check your connection and try again."));
  });
})();

// "Send now" countdown (the sending's page): the server renders "Sending in 28 s"; this
// counts it down from the page's load, then reloads once it has gone out (unless a dialog is
// open), so the page shows it Sending.
(function () {
  "use strict";
  var clocks = document.querySelectorAll("time[data-countdown]");
  if (!clocks.length) return;
  var loaded = Date.now();
  var timer = setInterval(function () {
    var elapsed = (Date.now() - loaded) / 1000;
    var done = true;
    clocks.forEach(function (clock) {
      var left = Math.ceil(Number(clock.getAttribute("data-countdown")) - elapsed);
      if (left > 0) {
        clock.textContent = interpolate(gettext("%(seconds)s s"), {seconds: left}, true);
        clock.setAttribute("datetime", "PT" + left + "S");
        done = false;
      } else {
        clock.textContent = gettext("a moment");
      }
    });
    if (done) {
      clearInterval(timer);
      setTimeout(function () {
        if (!document.querySelector("dialog[open]")) window.location.reload();
      }, 2000);
    }
  }, 250);
})();
