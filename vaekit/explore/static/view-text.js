// The "text" view: a payload {text} drawn as a sentence (an empty decoding is shown as such).
(function () {
  "use strict";
  window.vaekitViews = window.vaekitViews || {};
  window.vaekitViews.text = {
    draw(element, payload) {
      element.replaceChildren();
      const sentence = document.createElement("p");
      sentence.className = "sentence";
      sentence.textContent = payload.text || "(empty)";
      element.append(sentence);
    },
  };
})();
