// Central do Assinante: "copiar" buttons for the digitable line and the PIX code. The codes are
// on the page as text, so everything works without this file too.
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("copy-status");
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const text = ("value" in source ? source.value : source.textContent).trim();
      let copied = false;
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch (_) {
        // Older browsers, or no clipboard permission: select the text and copy it.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (source.select) source.select();
        copied = document.execCommand("copy");
      }
      if (status) {
        status.dataset.copied = copied ? text : "";
        status.textContent = copied ? button.dataset.done : "Selecione o código e copie.";
      }
    });
  }
});
