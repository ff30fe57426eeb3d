// Small helpers for the admin pages; the pages work without them.
document.addEventListener("DOMContentLoaded", () => {
  // E-mail SMTP: the port suggests the security (587 → STARTTLS, 465 → TLS).
  const port = document.querySelector("#smtp-form input[name=port]");
  const security = document.getElementById("security");
  if (port && security) {
    port.addEventListener("change", () => {
      if (port.value === "587") security.value = "starttls";
      if (port.value === "465") security.value = "tls";
    });
  }
});

// Layouts: live preview and validation while typing (the "Visualizar" button does the same
// without JavaScript).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("layout-form");
  if (!form) return;
  let timer = null;
  const refresh = async () => {
    const body = new URLSearchParams(new FormData(form));
    const resp = await fetch(form.dataset.preview, {
      method: "POST",
      headers: { "Accept": "application/json" },
      body,
    });
    if (!resp.ok) return;
    const data = await resp.json();
    const box = document.getElementById("problems");
    box.replaceChildren();
    if (data.problems.length) {
      const ul = document.createElement("ul");
      ul.className = "error problems";
      for (const p of data.problems) {
        const li = document.createElement("li");
        li.textContent = `${p.part}, linha ${p.line}, coluna ${p.column}: ${p.message}`;
        ul.appendChild(li);
      }
      box.appendChild(ul);
    } else {
      document.getElementById("preview-subject").textContent = data.subject;
      document.getElementById("preview-html").srcdoc = data.html;
      document.getElementById("preview-text").textContent = data.text;
      const sms = document.getElementById("preview-sms");
      const size = document.getElementById("sms-size");
      if (sms && size && data.sms) {
        sms.textContent = data.sms.text;
        size.textContent = data.sms.size;
        size.className = data.sms.over ? "warning" : "hint";
      }
    }
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  });
});

// Régua: a rule's layout list shows only the layouts of the kind chosen.
document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form.rule-form")) {
    const kind = form.querySelector("select[name=kind]");
    const layout = form.querySelector("select.rule-layout");
    if (!kind || !layout) continue;
    const show = () => {
      for (const g of layout.querySelectorAll("optgroup")) {
        const match = g.dataset.kind === kind.value;
        g.hidden = !match;
        g.disabled = !match;
      }
      if (layout.selectedOptions[0] && layout.selectedOptions[0].parentElement.disabled) layout.value = "";
    };
    kind.addEventListener("change", show);
    show();
  }
});

// Layouts: the visual mode. It edits the message between <!-- conteudo --> and <!-- /conteudo -->
// (the whole body when there are no markers) and writes it back into the HTML field, which is
// what is saved, checked and previewed. A part the browser would rewrite (template commands
// between table rows, say) keeps the layout in HTML mode, so nothing is changed unseen.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("layout-form");
  const visual = document.getElementById("visual");
  const body = document.getElementById("visual-body");
  if (!form || !visual || !body) return;
  const html = form.querySelector("textarea[name=html]");
  const htmlField = document.getElementById("html-field");
  const note = document.getElementById("visual-note");
  const OPEN = "<!-- conteudo -->", CLOSE = "<!-- /conteudo -->";
  // Inside {{ … }} and {% … %} the browser escapes > < & and quotes: put them back.
  const unescapeTags = (s) => s.replace(/\{[{%][\s\S]*?[%}]\}/g, (m) =>
    m.replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&quot;/g, '"').replace(/&amp;/g, "&"));
  // A table's <tbody>, which the browser adds, changes nothing: it is left out, as typed.
  const clean = (s) => unescapeTags(s).replace(/<\/?tbody>/g, "");
  const split = (text) => {
    const a = text.indexOf(OPEN), b = text.indexOf(CLOSE);
    if (a < 0 || b < a) return ["", text, ""];
    return [text.slice(0, a + OPEN.length), text.slice(a + OPEN.length, b), text.slice(b)];
  };
  let parts = null;
  let range = null;
  const sync = () => {
    if (!parts) return;
    html.value = parts[0] + clean(body.innerHTML) + parts[2];
    form.dispatchEvent(new Event("input", { bubbles: true }));
  };
  const toHtml = () => {
    parts = null;
    visual.hidden = true;
    htmlField.hidden = false;
  };
  const toVisual = () => {
    const p = split(html.value);
    body.innerHTML = p[1];
    if (clean(body.innerHTML) !== p[1].replace(/<\/?tbody>/g, "")) {
      note.textContent = "Este layout tem partes que o editor visual alteraria (comandos do modelo entre linhas de tabela): edite-o no modo HTML.";
      body.innerHTML = "";
      toHtml();
      return;
    }
    note.textContent = "";
    parts = p;
    visual.hidden = false;
    htmlField.hidden = true;
  };
  document.getElementById("mode-visual").addEventListener("click", toVisual);
  document.getElementById("mode-html").addEventListener("click", toHtml);
  const remember = () => {
    const s = window.getSelection();
    if (s.rangeCount && body.contains(s.anchorNode)) range = s.getRangeAt(0).cloneRange();
  };
  body.addEventListener("keyup", remember);
  body.addEventListener("mouseup", remember);
  body.addEventListener("input", () => { remember(); sync(); });
  const restore = () => {
    body.focus();
    if (range) {
      const s = window.getSelection();
      s.removeAllRanges();
      s.addRange(range);
    }
  };
  for (const b of visual.querySelectorAll("button[data-cmd]")) {
    b.addEventListener("click", () => {
      restore();
      const cmd = b.dataset.cmd;
      if (cmd === "bold") document.execCommand("bold");
      else if (cmd === "link") {
        const url = window.prompt("Endereço do link (https://… ou {{ fatura.link_portal }})");
        if (url) document.execCommand("createLink", false, url);
      } else document.execCommand("formatBlock", false, cmd);
      remember();
      sync();
    });
  }
  const picker = document.getElementById("var-picker");
  picker.addEventListener("change", () => {
    if (!picker.value) return;
    restore();
    document.execCommand("insertText", false, "{{ " + picker.value + " }}");
    picker.value = "";
    remember();
    sync();
  });
});
