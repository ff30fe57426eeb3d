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
