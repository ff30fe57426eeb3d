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
