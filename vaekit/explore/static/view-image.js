// The "image" view: a payload {png} (and {heat} for anomaly maps) drawn as pixelated pictures.
(function () {
  "use strict";
  function picture(src, alt) {
    const img = document.createElement("img");
    img.className = "pixels";
    img.alt = alt;
    img.src = src;
    return img;
  }
  window.vaekitViews = window.vaekitViews || {};
  window.vaekitViews.image = {
    draw(element, payload) {
      element.replaceChildren();
      if (payload.heat) {
        const pair = document.createElement("div");
        pair.className = "heat-pair";
        const stack = document.createElement("div");
        stack.className = "heat-stack";
        stack.append(picture(payload.png, "input"), picture(payload.heat, "contribution to the anomaly score"));
        pair.append(picture(payload.png, "input"), stack);
        element.append(pair);
      } else {
        element.append(picture(payload.png, "example"));
      }
    },
  };
})();
