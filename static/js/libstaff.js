/* LibStaff keyboard shortcuts and small enhancements. Everything here is optional: pages
   work without JavaScript, and these only add to them.

   /          focus the search box ([data-search])
   Alt+1..9   open the record's tab 1..9 (links with data-hotkey="N")
   Ctrl+S     save the current tab (clicks the [data-save] button)
   ?          list the shortcuts
   After an htmx save, the error or the message is scrolled into view.
   Access tab: "Generate a password" ([data-generate-password]) and Select all / Clear for
   the site checkboxes ([data-checkboxes]); both buttons stay hidden without JavaScript.
   Contact tab: choosing "Email" among the notice channels ([data-channel-choices]) shows
   the additional email field ([data-channel-email]) at once, before any save.
   The Content-Security-Policy allows no inline script and no eval: behaviour lives here,
   attached by data attributes, never in on*= or hx-on attributes. */
(function () {
  "use strict";

  var SHORTCUTS = [
    ["/", "Find a patron (focus the search box)"],
    ["Alt + 1 … 9", "Open tab 1 … 9 of the record"],
    ["Ctrl + S", "Save the current tab"],
    ["?", "Show these shortcuts"],
    ["Esc", "Close this list"],
  ];

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    return target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName);
  }

  function visible(element) {
    return element && element.offsetParent !== null;
  }

  function first(selector) {
    var found = document.querySelectorAll(selector);
    for (var i = 0; i < found.length; i++) {
      if (visible(found[i])) return found[i];
    }
    return null;
  }

  function focusSearch() {
    var box = first("[data-search]");
    if (!box) return false;
    box.focus();
    if (box.select) box.select();
    return true;
  }

  function openTab(number) {
    var link = first('a[data-hotkey="' + number + '"]');
    if (!link) return false;
    link.click();
    return true;
  }

  function saveTab() {
    var button = first("[data-save]");
    if (!button || button.disabled) return false;
    button.click();
    return true;
  }

  function shortcutsDialog() {
    var dialog = document.getElementById("shortcuts-dialog");
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.id = "shortcuts-dialog";
    dialog.className = "shortcuts-dialog";
    dialog.setAttribute("aria-labelledby", "shortcuts-title");
    var title = document.createElement("h2");
    title.id = "shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    var list = document.createElement("dl");
    SHORTCUTS.forEach(function (shortcut) {
      var key = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = shortcut[0];
      key.appendChild(kbd);
      var what = document.createElement("dd");
      what.textContent = shortcut[1];
      list.appendChild(key);
      list.appendChild(what);
    });
    var form = document.createElement("form");
    form.method = "dialog";
    var close = document.createElement("button");
    close.className = "btn btn-secondary";
    close.textContent = "Close";
    form.appendChild(close);
    dialog.appendChild(title);
    dialog.appendChild(list);
    dialog.appendChild(form);
    document.body.appendChild(dialog);
    return dialog;
  }

  function showShortcuts() {
    var dialog = shortcutsDialog();
    if (!dialog.open) dialog.showModal();
    return true;
  }

  function hotkeyDigit(event) {
    var match = /^Digit([1-9])$/.exec(event.code || "");
    if (match) return match[1];
    return /^[1-9]$/.test(event.key) ? event.key : null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var handled = false;
    var ctrlOrCmd = event.ctrlKey || event.metaKey;
    if (ctrlOrCmd && !event.altKey && (event.key === "s" || event.key === "S")) {
      handled = saveTab();
    } else if (event.altKey && !ctrlOrCmd && hotkeyDigit(event)) {
      handled = openTab(hotkeyDigit(event));
    } else if (!ctrlOrCmd && !event.altKey && !isTyping(event.target)) {
      if (event.key === "/") handled = focusSearch();
      else if (event.key === "?") handled = showShortcuts();
    }
    if (handled) event.preventDefault();
  });

  /* --- Access tab ------------------------------------------------------------------- */

  var LOWER = "abcdefghijkmnpqrstuvwxyz";
  var UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ";
  var DIGITS = "23456789";

  function randomIndex(limit) {
    var values = new Uint32Array(1);
    var ceiling = Math.floor(0x100000000 / limit) * limit;
    do {
      window.crypto.getRandomValues(values);
    } while (values[0] >= ceiling);
    return values[0] % limit;
  }

  function pick(alphabet) {
    return alphabet.charAt(randomIndex(alphabet.length));
  }

  /* Satisfies both password policies: letters and numbers, or upper, lower and a digit. */
  function generatePassword(minLength) {
    var length = Math.max(12, minLength || 0);
    var chars = [pick(LOWER), pick(UPPER), pick(DIGITS)];
    var all = LOWER + UPPER + DIGITS;
    while (chars.length < length) chars.push(pick(all));
    for (var i = chars.length - 1; i > 0; i--) {
      var j = randomIndex(i + 1);
      var swap = chars[i];
      chars[i] = chars[j];
      chars[j] = swap;
    }
    return chars.join("");
  }

  function fillGeneratedPassword(button) {
    var form = button.closest("form");
    var password = generatePassword(parseInt(button.getAttribute("data-min-length"), 10));
    ["password1", "password2"].forEach(function (name) {
      var field = form.querySelector('[name="' + name + '"]');
      if (field) field.value = password;
    });
    var shown = form.querySelector("[data-generated-password]");
    if (shown) shown.textContent = "New password: " + password;
  }

  function setAll(button, checked) {
    var group = button.closest("[data-checkboxes]");
    group.querySelectorAll('input[type="checkbox"]:not(:disabled)').forEach(function (box) {
      box.checked = checked;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-generate-password], [data-check-all], [data-check-none]");
    if (!button) return;
    if (button.hasAttribute("data-generate-password")) fillGeneratedPassword(button);
    else setAll(button, button.hasAttribute("data-check-all"));
  });

  /* --- Contact tab ------------------------------------------------------------------ */

  document.addEventListener("change", function (event) {
    var choices = event.target.closest && event.target.closest("[data-channel-choices]");
    if (!choices) return;
    var extra = choices.closest("form").querySelector("[data-channel-email]");
    if (extra) extra.hidden = event.target.value !== "email";
  });

  function enhance(root) {
    root.querySelectorAll("[data-generate-password], [data-checkbox-tools]").forEach(function (el) {
      el.hidden = false;
    });
  }

  /* After htmx swaps a saved or refused form in, bring what the operator must read into
     view: the form-wide error, else the first field in error, else the message. */
  function revealOutcome(target) {
    var problem = target.querySelector(".errorlist.nonfield, [aria-invalid='true']");
    var shown = problem || target.querySelector(".messages");
    if (!shown) return;
    shown.scrollIntoView({ block: "center" });
    if (problem && problem.matches("[aria-invalid='true']")) problem.focus({ preventScroll: true });
  }

  /* Registration: the sign-in fields and site access are for staff groups; without
     JavaScript they are always shown (and ignored for a patron without a username). */
  function showSignInFields(fieldset) {
    var select = document.getElementById(fieldset.dataset.groupField);
    if (!select) return;
    var staff = fieldset.dataset.staffGroups.split(",");
    var update = function () {
      fieldset.hidden = staff.indexOf(select.value) === -1;
    };
    select.addEventListener("change", update);
    update();
  }
  document.querySelectorAll("fieldset[data-staff-groups]").forEach(showSignInFields);

  enhance(document);
  document.addEventListener("htmx:load", function (event) {
    enhance(event.detail.elt);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.requestConfig && event.detail.requestConfig.verb === "post") {
      revealOutcome(event.detail.target);
    }
  });
})();

/* --- Pop-up notes (Notes tab) ----------------------------------------------------------
   A record's pop-up notes come on the first full page of a visit as
   <dialog data-popup-notes> (patrons/views/note_popup.py): opened here as a modal, with the
   focus on it; Escape or its Close button dismiss it, and it leaves the page, so that
   nothing on this page brings it back. */
(function () {
  "use strict";

  var dialog = document.querySelector("dialog[data-popup-notes]");
  if (!dialog || dialog.open || typeof dialog.showModal !== "function") return;
  var before = document.activeElement;
  dialog.addEventListener("close", function () {
    dialog.remove();
    if (before && before !== document.body && document.contains(before)) before.focus();
  });
  dialog.showModal();
  dialog.focus();
})();

/* --- Receipts (templates/fines/receipt.html) -------------------------------------------
   [data-print] buttons print the page (static/css/receipt-print.css lays the receipt out
   for paper); they stay hidden without JavaScript, where the browser's own Print is there. */
(function () {
  "use strict";

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-print]");
    if (!button) return;
    event.preventDefault();
    window.print();
  });
})();
