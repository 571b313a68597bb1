// postbus webmail: the little script the pages need. Everything works without it;
// it adds the time zone for dates, select-all, and new mail without a reload.
(function () {
  "use strict";

  // Dates in the reader's own time zone (the server reads this cookie).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("pb_tz=" + encodeURIComponent(zone)) < 0) {
      document.cookie = "pb_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: UTC it is */ }

  // Select all / selected rows.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement)) return;
    var form = box.form;
    if (box.classList.contains("select-all") && form) {
      form.querySelectorAll('input[name="uid"]').forEach(function (each) {
        each.checked = box.checked;
        each.closest("li").classList.toggle("selected", box.checked);
      });
    } else if (box.name === "uid") {
      box.closest("li").classList.toggle("selected", box.checked);
    }
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
        var busy = list && list.querySelector('input[name="uid"]:checked');
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
  if (document.readyState !== "loading") connect();
})();
