// postbus webmail: the little script the pages need. Everything works without it;
// it adds the time zone for dates, select-all, keyboard shortcuts, and new mail without a
// reload.
(function () {
  "use strict";

  // Dates in the reader's own time zone (the server reads this cookie).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("pb_tz=" + encodeURIComponent(zone)) < 0) {
      document.cookie = "pb_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: UTC it is */ }

  // Select all / selected rows (messages by UID, or conversations by thread).
  var SELECTABLE = 'input[name="uid"], input[name="thread"]';
  var SELECTED = 'input[name="uid"]:checked, input[name="thread"]:checked';

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement)) return;
    var form = box.form;
    if (box.classList.contains("select-all") && form) {
      form.querySelectorAll(SELECTABLE).forEach(function (each) {
        each.checked = box.checked;
        each.closest("li").classList.toggle("selected", box.checked);
      });
    } else if (box.name === "uid" || box.name === "thread") {
      box.closest("li").classList.toggle("selected", box.checked);
    }
  });

  // Drag and drop: the selected rows (or the one dragged, when it is not selected) dropped on a
  // folder of the folder list are moved there by the list's own move button: the same form,
  // action and CSRF token. The move menu stays for keyboard and touch.
  var dragging = false;

  function dropTarget(target) {
    var list = document.getElementById("list");
    var link = dragging && list && target instanceof Element &&
      target.closest("#folder-list a[href]");
    var found = link && /^\/mail\/(\d+)$/.exec(link.getAttribute("href"));
    if (!found || found[1] === list.dataset.folder) return null;
    return { link: link, folder: found[1], list: list };
  }

  function clearDrop() {
    document.querySelectorAll("#folder-list a.drop-target").forEach(function (link) {
      link.classList.remove("drop-target");
    });
  }

  document.addEventListener("dragstart", function (event) {
    var row = event.target instanceof Element && event.target.closest("#list li.message");
    var box = row && row.querySelector(SELECTABLE);
    if (!box) return;
    var list = document.getElementById("list");
    if (!box.checked) {
      list.querySelectorAll(SELECTABLE).forEach(function (each) {
        each.checked = each === box;
        each.closest("li").classList.toggle("selected", each === box);
      });
    }
    dragging = true;
    document.body.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", String(list.querySelectorAll(SELECTED).length));
  });

  document.addEventListener("dragend", function () {
    dragging = false;
    document.body.classList.remove("dragging");
    clearDrop();
  });

  // dragenter and dragover alike: both must be cancelled over a drop target (HTML
  // "drag-and-drop processing model"), and either may come first.
  function over(event) {
    var drop = dropTarget(event.target);
    if (!drop) {
      if (dragging) clearDrop();
      return;
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!drop.link.classList.contains("drop-target")) {
      clearDrop();
      drop.link.classList.add("drop-target");
    }
  }

  document.addEventListener("dragenter", over);
  document.addEventListener("dragover", over);

  document.addEventListener("dragleave", function (event) {
    var drop = dropTarget(event.target);
    // Chromium often gives no relatedTarget; the next dragover elsewhere clears it then.
    var into = event.relatedTarget;
    if (drop && into && !drop.link.contains(into)) drop.link.classList.remove("drop-target");
  });

  document.addEventListener("drop", function (event) {
    var drop = dropTarget(event.target);
    if (!drop) return;
    event.preventDefault();
    clearDrop();
    var select = drop.list.querySelector('select[name="target"]');
    var button = drop.list.querySelector('button[value="move"]');
    if (!select || !button || !drop.list.querySelector(SELECTED)) return;
    select.value = drop.folder;
    button.click();  // a click, so htmx sends the button's action=move like any other
  });

  // Keyboard shortcuts (the "?" dialog lists them). Never while typing in a field.
  function typing(target) {
    if (!(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["checkbox", "radio", "button", "submit", "reset"].indexOf(target.type) < 0;
  }

  function rows() {
    var list = document.querySelector(".messages");
    return list ? Array.prototype.slice.call(list.querySelectorAll("li.message")) : [];
  }

  function currentRow(all) {
    for (var i = 0; i < all.length; i++) {
      if (all[i].classList.contains("kb-current")) return i;
    }
    var focused = document.activeElement && document.activeElement.closest &&
      document.activeElement.closest("li.message");
    if (focused) return all.indexOf(focused);
    for (var j = 0; j < all.length; j++) {
      if (all[j].classList.contains("open")) return j;
    }
    return -1;
  }

  function reading() { return document.querySelector("article.reading"); }

  function go(link) { if (link) link.click(); }

  function step(delta) {
    var all = rows();
    if (!all.length) return;
    var at = currentRow(all);
    var next = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + delta));
    if (reading()) {  // reading a message: open the next one
      if (next !== at) go(all[next].querySelector("a.row-link"));
      return;
    }
    all.forEach(function (row) { row.classList.remove("kb-current"); });
    all[next].classList.add("kb-current");
    var link = all[next].querySelector("a.row-link");
    link.focus();
    link.scrollIntoView({ block: "nearest" });
  }

  function chosenRow() {
    var all = rows();
    var at = currentRow(all);
    return at < 0 ? null : all[at];
  }

  function reply(mode) {
    var labels = { reply: "reply", all: "all", forward: "forward" };
    var open = reading();
    if (open) {
      go(open.querySelector('.reading-toolbar a[href*="mode=' + labels[mode] + '"]'));
      return;
    }
    var row = chosenRow();
    var found = row && /\/mail\/(\d+)\/(\d+)/.exec(row.querySelector("a.row-link").pathname);
    if (found) location.assign("/compose?reply=" + found[1] + ":" + found[2] + "&mode=" + mode);
  }

  function remove() {
    var open = reading();
    if (open) {
      go(open.querySelector('.reading-toolbar button[value="delete"]'));
      return;
    }
    var row = chosenRow();
    var list = document.getElementById("list");
    var box = row && row.querySelector(SELECTABLE);
    if (!box || !list) return;
    list.querySelectorAll(SELECTABLE).forEach(function (each) { each.checked = each === box; });
    go(list.querySelector('button[value="delete"]'));
  }

  function help() {
    var dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open && dialog.showModal) dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest(".close-shortcuts");
    if (button) button.closest("dialog").close();
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) return;  // Escape closes it; nothing else behind it
    if (!document.getElementById("app")) return;  // signed-in pages only
    var row;
    switch (event.key) {
      case "j": step(1); break;
      case "k": step(-1); break;
      case "o":
      case "Enter":
        if (event.key === "Enter" && event.target instanceof Element &&
            event.target.closest("a, button, input, summary")) return;  // the browser does it
        row = chosenRow();
        if (!row || reading() && row.classList.contains("open")) return;
        go(row.querySelector("a.row-link"));
        break;
      case "r": reply("reply"); break;
      case "a": reply("all"); break;
      case "f": reply("forward"); break;
      case "c": location.assign("/compose"); break;
      case "#": remove(); break;
      case "/":
        var search = document.getElementById("q");
        if (!search) return;
        search.focus();
        search.select();
        break;
      case "u":
        var back = document.querySelector(".reading-toolbar a.back");
        if (back) go(back); else if (!document.getElementById("list")) location.assign("/mail");
        break;
      case "?": help(); break;
      default: return;
    }
    event.preventDefault();
  });

  // New mail without a reload: the server sends an event for every change of this account.
  var source = null;
  var pending = null;

  function refresh() {
    pending = null;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var folders = fresh.getElementById("folder-list");
        var current = document.getElementById("folder-list");
        if (folders && current) current.innerHTML = folders.innerHTML;
        var list = document.getElementById("list");
        var freshList = fresh.getElementById("list");
        var busy = list && list.querySelector(SELECTED);
        if (list && freshList && !busy && !list.contains(document.activeElement)) {
          list.querySelector(".messages").innerHTML = freshList.querySelector(".messages").innerHTML;
          var head = list.querySelector(".list-head");
          var freshHead = freshList.querySelector(".list-head");
          if (head && freshHead) head.innerHTML = freshHead.innerHTML;
        }
        if (fresh.title) document.title = fresh.title;
      })
      .catch(function () { /* next event will try again */ });
  }

  function connect() {
    if (source || !document.getElementById("folder-list") || !window.EventSource) return;
    source = new EventSource("/events");
    source.addEventListener("mail", function () {
      if (!pending) pending = setTimeout(refresh, 400);
    });
    source.onerror = function () {
      if (source && source.readyState === EventSource.CLOSED) source = null;
    };
  }

  document.addEventListener("DOMContentLoaded", connect);
  document.addEventListener("htmx:afterSettle", connect);

  // The compose page's editor (DOMPurify, Squire) and script load only when a compose form is
  // shown, in order; script elements added here obey the page's CSP like any other.
  function load(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function compose() {
    var form = document.querySelector("form.compose-form");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    var ready = window.postbusCompose ? Promise.resolve() :
      load("/static/purify.min.js").then(function () { return load("/static/squire.js"); })
        .then(function () { return load("/static/compose.js"); });
    ready.then(function () { window.postbusCompose(form); })
      .catch(function () { /* the plain form still works */ });
  }

  document.addEventListener("DOMContentLoaded", compose);
  document.addEventListener("htmx:afterSettle", compose);
  if (document.readyState !== "loading") compose();
  if (document.readyState !== "loading") connect();
})();
