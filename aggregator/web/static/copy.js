// Progressive enhancement: copy buttons next to feed addresses. Without JavaScript the
// address stays in a read-only input the reader can select and copy by hand.
document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
  if (!navigator.clipboard) { return; }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      button.textContent = "Скопировано";
    }, function () {
      button.textContent = "Выделите адрес и скопируйте";
    });
  });
});
