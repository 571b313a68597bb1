// postbus webmail, the compose page: rich-text editor (Squire), address suggestions, and
// attachments by drag and drop with upload progress. app.js loads this file (after
// DOMPurify and Squire) only when a compose form is on the page. Without it the form still
// works: the textarea sends plain text and the file input sends its files with the form.
(function () {
  "use strict";

  function csrfOf(form) { return form.querySelector('input[name="csrf"]').value; }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key] || ""; });
  }

  function sizeText(octets) {
    if (octets < 1024) return octets + " B";
    if (octets < 1024 * 1024) return Math.round(octets / 1024) + " KB";
    return (octets / 1024 / 1024).toFixed(1) + " MB";
  }

  // -- the editor ---------------------------------------------------------------------------

  function textToHtml(text) {
    var box = document.createElement("div");
    return text.split("\n").map(function (line) {
      if (!line.trim()) return "<div><br></div>";
      box.textContent = line;
      return "<div>" + box.innerHTML + "</div>";
    }).join("");
  }

  var COMMANDS = {
    bold: { tag: "B", on: "bold", off: "removeBold" },
    italic: { tag: "I", on: "italic", off: "removeItalic" },
    underline: { tag: "U", on: "underline", off: "removeUnderline" },
    list: { tag: "UL", on: "makeUnorderedList", off: "removeList" },
    numbered: { tag: "OL", on: "makeOrderedList", off: "removeList" },
    quote: { tag: "BLOCKQUOTE", on: "increaseQuoteLevel", off: "decreaseQuoteLevel" },
    link: { tag: "A" },
    unformat: {}
  };

  function setupEditor(form) {
    var field = form.querySelector(".body-field");
    var textarea = form.querySelector("#body");
    var htmlInput = form.querySelector('input[name="html"]');
    var formatInput = form.querySelector('input[name="format"]');
    var box = field.querySelector(".editor");
    var area = field.querySelector("#editor");
    var toolbar = field.querySelector(".editor-toolbar");
    var buttons = Array.prototype.slice.call(toolbar.querySelectorAll("button"));
    var toggle = field.querySelector("#plain-text");
    if (!window.Squire || !window.DOMPurify) return;
    var focusFirst = textarea.hasAttribute("autofocus") || document.activeElement === textarea;
    var editor = new window.Squire(area, { blockTag: "DIV" });
    form.postbusEditor = editor;

    function link() {
      if (editor.hasFormat("A")) { editor.removeLink(); return; }
      var url = window.prompt(form.dataset.linkPrompt, "https://");
      if (!url || url === "https://") return;
      if (!/^(https?:|mailto:)/i.test(url)) url = (url.indexOf("@") > 0 ? "mailto:" : "https://") + url;
      editor.makeLink(url);
    }

    function run(name) {
      var command = COMMANDS[name];
      if (name === "link") link();
      else if (name === "unformat") editor.removeAllFormatting();
      else editor[editor.hasFormat(command.tag) ? command.off : command.on]();
      editor.focus();
      showState();
    }

    function showState() {
      buttons.forEach(function (button) {
        var command = COMMANDS[button.dataset.command];
        if (command && command.tag) {
          button.setAttribute("aria-pressed", editor.hasFormat(command.tag) ? "true" : "false");
        }
      });
    }

    // A toolbar is one tab stop; the arrow keys move inside it (WAI-ARIA toolbar pattern).
    buttons.forEach(function (button, i) { button.tabIndex = i === 0 ? 0 : -1; });
    toolbar.addEventListener("keydown", function (event) {
      var at = buttons.indexOf(document.activeElement);
      if (at < 0) return;
      var next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      next = (next + buttons.length) % buttons.length;
      buttons[at].tabIndex = -1;
      buttons[next].tabIndex = 0;
      buttons[next].focus();
    });
    toolbar.addEventListener("mousedown", function (event) {
      if (event.target.closest("button")) event.preventDefault();  // keep the selection
    });
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-command]");
      if (button) run(button.dataset.command);
    });
    editor.addEventListener("pathChange", showState);
    editor.setKeyHandler("Ctrl-k", function (self, event) { event.preventDefault(); link(); });
    editor.setKeyHandler("Meta-k", function (self, event) { event.preventDefault(); link(); });

    function rich(on) {
      box.hidden = !on;
      textarea.hidden = on;
      formatInput.value = on ? "html" : "plain";
    }

    toggle.closest("label").hidden = false;
    toggle.addEventListener("change", function () {
      if (toggle.checked) {
        // The plain text comes from the server's own converter, so it is what would be sent.
        var data = new FormData();
        data.append("html", editor.getHTML());
        fetch("/compose/plain", { method: "POST", body: data, credentials: "same-origin",
                                  headers: { "X-CSRF-Token": csrfOf(form) } })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (text) {
            if (text === null) { toggle.checked = false; return; }
            textarea.value = text;
            rich(false);
            textarea.focus();
          })
          .catch(function () { toggle.checked = false; });
      } else {
        editor.setHTML(textToHtml(textarea.value));
        rich(true);
        editor.focus();
        editor.moveCursorToStart();
      }
    });

    if (field.dataset.format === "html") {
      // Typed into the textarea before the editor was ready: that text, not the default.
      if (textarea.value !== textarea.defaultValue) editor.setHTML(textToHtml(textarea.value));
      else if (htmlInput.value) editor.setHTML(htmlInput.value);
      rich(true);
      if (focusFirst) { editor.focus(); editor.moveCursorToStart(); }
    } else {
      toggle.checked = true;
      rich(false);
    }
    function sync() { if (formatInput.value === "html") htmlInput.value = editor.getHTML(); }
    form.addEventListener("submit", sync);
    form.addEventListener("postbus:sync", sync);
    editor.addEventListener("input", function () {
      form.dispatchEvent(new Event("postbus:changed"));
    });
  }

  // -- drafts saved while writing ----------------------------------------------------------

  function setupAutosave(form) {
    var status = form.querySelector(".autosave-status");
    var draft = form.querySelector('input[name="draft"]');
    var delay = Number(form.dataset.autosaveMs) || 3000;
    var timer = null, running = null, submitted = false;

    function save() {
      timer = null;
      if (submitted) return;
      if (running) { later(); return; }  // one save at a time; this change goes in the next
      form.dispatchEvent(new Event("postbus:sync"));
      var data = new FormData(form);
      data.delete("attachment");  // files go through the upload, never twice
      data.delete("action");
      running = new AbortController();
      fetch("/compose/autosave", { method: "POST", body: data, credentials: "same-origin",
                                   signal: running.signal })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.text();
        })
        .then(function (ref) {
          if (submitted) return;
          if (ref) draft.value = ref;
          var now = new Date();
          status.textContent = fill(form.dataset.autosaved, {
            time: now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
          });
        })
        .catch(function () { if (!submitted) later(); })
        .then(function () { running = null; });
    }
    function later() {
      if (timer) clearTimeout(timer);
      timer = setTimeout(save, delay);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    form.addEventListener("postbus:changed", later);
    form.addEventListener("submit", function () {
      submitted = true;  // sending or saving now: no draft may appear after it
      if (timer) clearTimeout(timer);
      if (running) running.abort();
    });
  }

  // -- address suggestions -----------------------------------------------------------------

  function setupSuggestions(input) {
    var list = document.getElementById(input.dataset.suggest);
    var timer = null;
    var asked = 0;
    var active = -1;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("autocomplete", "off");

    function options() { return Array.prototype.slice.call(list.querySelectorAll("[role=option]")); }

    function close() {
      list.hidden = true;
      list.innerHTML = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function mark(index) {
      var all = options();
      active = index;
      all.forEach(function (option, i) { option.setAttribute("aria-selected", i === index ? "true" : "false"); });
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", all[index].id);
        all[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(option) {
      var value = input.value;
      var cut = Math.max(value.lastIndexOf(","), value.lastIndexOf(";"));
      var head = cut >= 0 ? value.slice(0, cut + 1) + " " : "";
      input.value = head + option.dataset.value + ", ";
      close();
      input.focus();
    }

    function lookup() {
      timer = null;
      var value = input.value;
      var last = value.split(/[,;]/).pop().trim();
      if (!last) { close(); return; }
      var mine = ++asked;
      fetch("/compose/suggest?field=" + input.id + "&q=" + encodeURIComponent(value),
            { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (mine !== asked || document.activeElement !== input) return;
          list.innerHTML = html;
          if (!options().length) { close(); return; }
          list.hidden = false;
          input.setAttribute("aria-expanded", "true");
          mark(-1);
        })
        .catch(close);
    }

    input.addEventListener("input", function () {
      if (timer) clearTimeout(timer);
      timer = setTimeout(lookup, 120);
    });
    input.addEventListener("keydown", function (event) {
      var all = options();
      if (list.hidden || !all.length) return;
      if (event.key === "ArrowDown") mark((active + 1) % all.length);
      else if (event.key === "ArrowUp") mark(active <= 0 ? all.length - 1 : active - 1);
      else if (event.key === "Enter" && active >= 0) choose(all[active]);
      else if (event.key === "Escape") close();
      else return;
      event.preventDefault();
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    list.addEventListener("mousedown", function (event) {
      var option = event.target.closest("[role=option]");
      if (!option) return;
      event.preventDefault();
      choose(option);
    });
  }

  // -- attachments: drop, upload with progress, remove -------------------------------------

  function setupAttachments(form) {
    var input = form.querySelector("#attachment");
    var staged = form.querySelector("#staged");
    var status = form.querySelector("#upload-status");
    var problem = form.querySelector("#upload-error");
    var limit = parseInt(form.dataset.maxFile, 10);
    var pending = 0;

    function say(text) { status.textContent = text; }
    function fail(text) { problem.textContent = text; problem.hidden = false; }

    function upload(file) {
      problem.hidden = true;
      if (file.size > limit) {
        fail(fill(form.dataset.tooLarge, { name: file.name, size: form.dataset.maxFileText }));
        return;
      }
      var item = document.createElement("li");
      item.className = "uploading";
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "size";
      size.textContent = "(" + sizeText(file.size) + ")";
      var bar = document.createElement("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", file.name);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove-staged";
      remove.textContent = form.dataset.removeText;
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " " + file.name;
      remove.appendChild(hidden);
      item.append(name, " ", size, " ", bar, " ", remove);
      staged.appendChild(item);

      var request = new XMLHttpRequest();
      item.postbusUpload = request;
      pending++;
      request.open("POST", "/compose/upload");
      request.setRequestHeader("X-CSRF-Token", csrfOf(form));
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) bar.value = Math.round(event.loaded / event.total * 100);
      });
      request.addEventListener("loadend", function () {
        pending--;
        item.postbusUpload = null;
        var answer = null;
        try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
        if (request.status === 200 && answer && answer.token) {
          var token = document.createElement("input");
          token.type = "hidden";
          token.name = "staged";
          token.value = answer.token;
          item.insertBefore(token, item.firstChild);
          bar.value = 100;
          bar.remove();
          item.className = "";
          say(fill(form.dataset.uploaded, { name: file.name }));
        } else if (request.status !== 0) {
          item.remove();
          fail(answer && answer.error ? file.name + ": " + answer.error
                                      : fill(form.dataset.uploadFailed, { name: file.name }));
        }
      });
      var data = new FormData();
      data.append("file", file, file.name);
      request.send(data);
    }

    function uploadAll(files) { Array.prototype.forEach.call(files, upload); }

    input.addEventListener("change", function () {
      uploadAll(input.files);
      input.value = "";  // the files go ahead now, not again with the form
    });
    form.querySelector(".drop-hint").hidden = false;

    function carriesFiles(event) {
      return event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0;
    }
    form.addEventListener("dragover", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      form.classList.add("dropping");
    });
    form.addEventListener("dragleave", function (event) {
      if (!form.contains(event.relatedTarget)) form.classList.remove("dropping");
    });
    form.addEventListener("drop", function (event) {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      form.classList.remove("dropping");
      uploadAll(event.dataTransfer.files);
    });

    staged.addEventListener("click", function (event) {
      var button = event.target.closest(".remove-staged");
      if (!button) return;
      var item = button.closest("li");
      var name = item.querySelector(".name").textContent;
      if (item.postbusUpload) item.postbusUpload.abort();
      var token = item.querySelector('input[name="staged"]');
      if (token) {
        fetch("/compose/upload/" + encodeURIComponent(token.value) + "/remove",
              { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfOf(form) } })
          .catch(function () { /* swept away within a day anyway */ });
      }
      item.remove();
      say(fill(form.dataset.removed, { name: name }));
      input.focus();
    });

    form.addEventListener("submit", function (event) {
      if (pending > 0) {
        event.preventDefault();
        fail(form.dataset.wait);
      }
    });
  }

  window.postbusCompose = function (form) {
    setupEditor(form);
    form.querySelectorAll("input[data-suggest]").forEach(setupSuggestions);
    setupAttachments(form);
    setupAutosave(form);
  };
})();
