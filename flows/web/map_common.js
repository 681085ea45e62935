// pestcast map pages: what the two kinds of page share, a map of parcels (map_page.js) and the
// index of communes of a split map (map_index.js): building elements, the language, the pest and
// horizon choices, the labels every panel has and the opt-in basemap. Defines
// window.pestcastPage; inlined before each page's own script. Text from the data is only ever
// set with textContent, never parsed as HTML.
window.pestcastPage = (function () {
  "use strict";

  // Labels both kinds of page use; each adds its own (withCommonText).
  const COMMON_TEXT = {
    en: {
      forecastDate: "Forecast date",
      modelVersion: "Model version",
      pest: "Pest",
      horizon: "Forecast horizon",
      days: (h) => `next ${h} days`,
      basemap: "Background map (OpenStreetMap, needs internet)",
      basemapUnavailable: "The background map could not be loaded (no internet?).",
      district: "District",
      locale: "en-GB",
    },
    vi: {
      forecastDate: "Ngày dự báo",
      modelVersion: "Phiên bản mô hình",
      pest: "Sâu bệnh",
      horizon: "Thời hạn dự báo",
      days: (h) => `${h} ngày tới`,
      basemap: "Bản đồ nền (OpenStreetMap, cần internet)",
      basemapUnavailable: "Không tải được bản đồ nền (không có internet?).",
      district: "Huyện",
      locale: "vi-VN",
    },
  };

  function withCommonText(text) {
    return { en: { ...COMMON_TEXT.en, ...text.en }, vi: { ...COMMON_TEXT.vi, ...text.vi } };
  }

  function element(tag, attributes, children) {
    const node = document.createElement(tag);
    Object.entries(attributes || {}).forEach(([name, value]) => node.setAttribute(name, value));
    (children || []).forEach((child) =>
      node.append(child instanceof Node ? child : document.createTextNode(String(child))));
    return node;
  }

  function radio(name, value, checked, onChange) {
    const input = element("input", { type: "radio", name, value });
    input.checked = checked;
    input.addEventListener("change", onChange);
    return input;
  }

  // The language a link asked for (#vi, #en: the index passes its own on), else the browser's.
  function initialLanguage() {
    const linked = ["en", "vi"].find((lang) => window.location.hash === `#${lang}`);
    return linked || ((navigator.language || "en").toLowerCase().startsWith("vi") ? "vi" : "en");
  }

  function known(what, values, value) {
    if (!values.includes(value)) throw new Error(`unknown ${what} ${value}; one of ${values}`);
    return value;
  }

  // A radio button per pest and per horizon of config in #pest-choice and #horizon-choice.
  function buildPestHorizonChoice(config, state, setFilter) {
    const pests = document.getElementById("pest-choice");
    config.pests.forEach((p) => pests.append(element("label", {}, [
      radio("pest", p.code, p.code === state.pest, () => setFilter({ pest: p.code })),
      element("span", { "data-pest-label": p.code }),
    ])));
    const horizons = document.getElementById("horizon-choice");
    config.horizons.forEach((h) => horizons.append(element("label", {}, [
      radio("horizon", String(h), h === state.horizon, () => setFilter({ horizon: h })),
      element("span", { "data-horizon-label": String(h) }),
    ])));
  }

  // filter.pest and filter.horizon (either may be missing) into state, refusing unknown ones,
  // and the radio buttons checked to match.
  function choosePestHorizon(config, state, filter) {
    if (filter.pest !== undefined) state.pest = known("pest", config.pests.map((p) => p.code), filter.pest);
    if (filter.horizon !== undefined) state.horizon = known("horizon", config.horizons, Number(filter.horizon));
    document.querySelectorAll("input[name=pest]").forEach((i) => { i.checked = i.value === state.pest; });
    document.querySelectorAll("input[name=horizon]").forEach((i) => { i.checked = Number(i.value) === state.horizon; });
  }

  // The labels every panel has, in the language of state: the page's language and title, the
  // [data-i18n] texts of t, the pressed language button, the pest and horizon names.
  function labelPanel(config, state, t, title) {
    document.documentElement.lang = state.lang;
    document.title = title;
    document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t[node.dataset.i18n]; });
    document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang)));
    document.querySelectorAll("[data-pest-label]").forEach((n) => { n.textContent = config.pests.find((p) => p.code === n.dataset.pestLabel)[state.lang]; });
    document.querySelectorAll("[data-horizon-label]").forEach((n) => { n.textContent = t.days(Number(n.dataset.horizonLabel)); });
  }

  // setBasemap(on) for map: the optional OpenStreetMap background, off by default, because every
  // failed tile load offline logs a "Failed to load resource" error in the browser console, even
  // when the page handles it (#basemap-status then says so).
  function basemapSwitch(map, tiles) {
    let basemap = null;
    return function setBasemap(on) {
      document.getElementById("basemap").checked = on;
      document.getElementById("basemap-status").hidden = true;
      if (on && !basemap) {
        basemap = L.tileLayer(tiles.url, { maxZoom: tiles.maxZoom, attribution: tiles.attribution });
        basemap.on("tileerror", () => { document.getElementById("basemap-status").hidden = false; });
        basemap.addTo(map);
        basemap.bringToBack();
      } else if (!on && basemap) {
        map.removeLayer(basemap);
        basemap = null;
      }
    };
  }

  return { withCommonText, element, radio, initialLanguage, known, buildPestHorizonChoice, choosePestHorizon, labelPanel, basemapSwitch };
})();
