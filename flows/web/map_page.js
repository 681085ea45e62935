// pestcast risk map page. Reads the inlined risk map (#risk-map, RFC 7946, one feature per
// parcel; schema in docs/DESIGN.md "The risk map") and the page settings (#page-config, written
// by pestcast.flows.map_page), draws the parcels with Leaflet and exposes window.pestcastMap
// for tests. Text from the data is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  const riskMap = JSON.parse(document.getElementById("risk-map").textContent);
  const config = JSON.parse(document.getElementById("page-config").textContent);

  const TEXT = window.pestcastPage.withCommonText({
    en: {
      title: "Rice pest risk forecast",
      riskClass: "Risk class (tick to show)",
      shown: (n, total) => `Showing ${n} of ${total} parcels`,
      summaryTitle: "Summary by commune",
      backToIndex: "← All communes",
      summaryNote: "parcels / hectares",
      commune: "Commune",
      total: "Total",
      parcel: "Parcel",
      area: "Area",
      risk: "Risk",
      riskHint: (pest, h) => `Chance of finding ${pest} at light or worse within ${h} days`,
      sure: "How sure",
      sureText: (low, high) => `forecasts like this came true ${low}–${high} of the time`,
      class: "Class",
      reasons: "Reasons",
      noReasons: "none given",
      lastClear: "Last clear satellite image",
      clearPixels: (n) => `${n} clear pixels`,
      noClearImage: "none yet",
      unknown: "unknown",
      notAvailable: "n/a",
    },
    vi: {
      title: "Dự báo nguy cơ sâu bệnh hại lúa",
      riskClass: "Mức nguy cơ (đánh dấu để hiển thị)",
      shown: (n, total) => `Đang hiển thị ${n}/${total} thửa`,
      summaryTitle: "Tổng hợp theo xã",
      backToIndex: "← Tất cả các xã",
      summaryNote: "số thửa / héc-ta",
      commune: "Xã",
      total: "Tổng",
      parcel: "Thửa ruộng",
      area: "Diện tích",
      risk: "Nguy cơ",
      riskHint: (pest, h) => `Xác suất phát hiện ${pest} từ mức nhẹ trở lên trong ${h} ngày tới`,
      sure: "Độ tin cậy",
      sureText: (low, high) => `dự báo tương tự đã đúng ${low}–${high} số lần`,
      class: "Mức nguy cơ",
      reasons: "Lý do",
      noReasons: "không có",
      lastClear: "Ảnh vệ tinh rõ gần nhất",
      clearPixels: (n) => `${n} điểm ảnh rõ`,
      noClearImage: "chưa có",
      unknown: "không rõ",
      notAvailable: "không có",
    },
  });

  // How each class is drawn; its fill and outline colours come from the page settings (the
  // export's class colours). no_data is a dashed grey outline over a faint fill, so a missing
  // forecast stands out; not_in_crop (fallow or flooded off-season, not forecast) is a quiet
  // beige with a hairline outline, so it recedes.
  const DRAWING = {
    high: { weight: 1, fillOpacity: 0.85 },
    medium: { weight: 1, fillOpacity: 0.85 },
    low: { weight: 1, fillOpacity: 0.75 },
    no_data: { weight: 1.5, dashArray: "4 3", fillOpacity: 0.3 },
    not_in_crop: { weight: 0.5, fillOpacity: 0.7 },
  };
  // Every style sets every option: setStyle merges, so a dash would outlive a no_data class.
  const STYLE = Object.fromEntries(config.classes.map((c) => [c.code,
    { color: c.outline, fillColor: c.fill, dashArray: null, ...(DRAWING[c.code] || DRAWING.no_data) }]));
  const NOT_IN_CROP = "not_in_crop";

  const page = window.pestcastPage;
  const { element } = page;
  const state = {
    lang: page.initialLanguage(),
    pest: config.pests[0].code,
    horizon: config.horizons[0],
    classes: new Set(config.classes.map((c) => c.code)),
  };

  const text = () => TEXT[state.lang];
  const prop = (name) => `${name}_${state.pest}_h${state.horizon}`;
  const classOf = (feature) => feature.properties[prop("class")];
  const pestName = () => config.pests.find((p) => p.code === state.pest)[state.lang];
  const classLabel = (code) => config.classes.find((c) => c.code === code)[state.lang];
  const numberFormat = (options) => new Intl.NumberFormat(text().locale, options);

  // --- the map ---------------------------------------------------------------------------
  const map = L.map("map", { preferCanvas: true, zoomSnap: 0.25 });
  L.control.scale({ imperial: false }).addTo(map);
  const shown = L.featureGroup().addTo(map);
  const layers = new Map(); // parcel_id -> Leaflet layer
  let openLayer = null;
  const setBasemap = page.basemapSwitch(map, config.tiles);

  L.geoJSON(riskMap, {
    renderer: L.canvas({ padding: 0.5, tolerance: 2 }),
    onEachFeature: (feature, layer) => {
      layers.set(String(feature.properties.parcel_id), layer);
      layer.bindPopup(() => popupContent(feature), { minWidth: 300, maxWidth: 360 });
      layer.on("popupopen", () => { openLayer = layer; });
      layer.on("popupclose", () => { if (openLayer === layer) openLayer = null; });
    },
  });

  function fitParcels() {
    const all = L.featureGroup([...layers.values()]);
    if (layers.size) map.fitBounds(all.getBounds(), { padding: [16, 16] });
    else map.fitWorld();
  }

  function drawParcels() {
    for (const layer of layers.values()) {
      const cls = classOf(layer.feature);
      const visible = state.classes.has(cls);
      if (visible) layer.setStyle(STYLE[cls]);
      if (visible && !shown.hasLayer(layer)) shown.addLayer(layer);
      if (!visible && shown.hasLayer(layer)) shown.removeLayer(layer);
    }
    if (openLayer && !shown.hasLayer(openLayer)) map.closePopup();
    else if (openLayer) openLayer.getPopup().update();
  }

  // --- the popup -------------------------------------------------------------------------
  function formatRisk(risk) {
    if (risk === null || risk === undefined) return text().notAvailable;
    return numberFormat({ style: "percent", maximumFractionDigits: 0 }).format(risk);
  }

  function formatSure(p) {
    const low = p[prop("risk_low")];
    const high = p[prop("risk_high")];
    if (low === null || low === undefined || high === null || high === undefined) return text().notAvailable;
    return text().sureText(formatRisk(low), formatRisk(high));
  }

  function formatArea(hectares) {
    if (hectares === null || hectares === undefined) return text().notAvailable;
    return `${numberFormat({ maximumFractionDigits: 2 }).format(hectares)} ha`;
  }

  function formatLastClear(p) {
    if (!p.last_clear_obs_date) return text().noClearImage;
    if (p.n_valid_px === null || p.n_valid_px === undefined) return p.last_clear_obs_date;
    return `${p.last_clear_obs_date} (${text().clearPixels(p.n_valid_px)})`;
  }

  function reasonList(p) {
    const raw = p[prop(state.lang === "vi" ? "reasons_vi" : "reasons")] || "";
    const reasons = raw.split(";").map((r) => r.trim()).filter((r) => r);
    if (!reasons.length) return text().noReasons;
    return element("ul", {}, reasons.map((r) => element("li", {}, [r])));
  }

  function classBadge(feature) {
    const cls = classOf(feature);
    const swatch = element("span", { class: `swatch ${cls}` });
    swatch.style.background = STYLE[cls].fillColor;
    const vietnamese = feature.properties[prop("class_vi")];
    return element("span", {}, [swatch, state.lang === "vi" && vietnamese ? vietnamese : classLabel(cls)]);
  }

  // A parcel not in crop has no risk: its class stands in the risk's place, with the reason.
  function forecastRows(feature) {
    const p = feature.properties;
    const t = text();
    if (classOf(feature) === NOT_IN_CROP) {
      return [[t.risk, classBadge(feature)], [t.reasons, config.notInCropNote[state.lang]]];
    }
    return [[t.risk, formatRisk(p[prop("risk")])], [t.sure, formatSure(p)],
      [t.class, classBadge(feature)], [t.reasons, reasonList(p)]];
  }

  function popupContent(feature) {
    const p = feature.properties;
    const t = text();
    const rows = [
      ...forecastRows(feature), [t.commune, p.commune], [t.district, p.district],
      [t.area, formatArea(p.area_ha)], [t.lastClear, formatLastClear(p)],
      [t.modelVersion, p.model_version], [t.forecastDate, p.forecast_date],
    ];
    const list = element("dl", {}, rows.flatMap(([name, value]) =>
      [element("dt", {}, [name]), element("dd", {}, [value ?? t.unknown])]));
    if (classOf(feature) !== NOT_IN_CROP) list.firstChild.title = t.riskHint(pestName(), state.horizon);
    return element("div", { class: "popup", "data-parcel-id": p.parcel_id, "data-class": classOf(feature) }, [
      element("h3", {}, [`${t.parcel} ${p.parcel_id}`]),
      element("p", { class: "context" }, [`${pestName()} · ${t.days(state.horizon)}`]),
      list,
    ]);
  }

  // --- the side panel --------------------------------------------------------------------
  function buildControls() {
    page.buildPestHorizonChoice(config, state, setFilter);
    const classes = document.getElementById("class-choice");
    config.classes.forEach((c) => {
      const box = element("input", { type: "checkbox", name: "class", value: c.code });
      box.checked = true;
      box.addEventListener("change", () => toggleClass(c.code, box.checked));
      const swatch = element("span", { class: `swatch ${c.code}` });
      swatch.style.background = STYLE[c.code].fillColor;
      classes.append(element("label", {}, [box, swatch,
        element("span", { "data-class-label": c.code }), " ",
        element("span", { class: "count", "data-class-count": c.code })]));
    });
  }

  function toggleClass(code, on) {
    const classes = new Set(state.classes);
    if (on) classes.add(code); else classes.delete(code);
    setFilter({ classes: [...classes] });
  }

  function classCounts() {
    const counts = Object.fromEntries(config.classes.map((c) => [c.code, 0]));
    for (const layer of layers.values()) counts[classOf(layer.feature)] += 1;
    return counts;
  }

  function labelPanel() {
    const t = text();
    const place = config.place ? `${config.place.commune} · ` : "";
    page.labelPanel(config, state, t, `${place}${t.title} — ${config.forecastDate}`);
    document.querySelectorAll("[data-class-label]").forEach((n) => { n.textContent = classLabel(n.dataset.classLabel); });
    const counts = classCounts();
    document.querySelectorAll("[data-class-count]").forEach((n) => { n.textContent = `(${counts[n.dataset.classCount]})`; });
    document.getElementById("shown-count").textContent = t.shown(shown.getLayers().length, layers.size);
  }

  // --- the commune summary ---------------------------------------------------------------
  function communeTotals() {
    const rows = new Map();
    for (const layer of layers.values()) {
      const p = layer.feature.properties;
      const key = JSON.stringify([p.district, p.commune]);
      if (!rows.has(key)) rows.set(key, { district: p.district, commune: p.commune, count: {}, ha: {} });
      const row = rows.get(key);
      const cls = classOf(layer.feature);
      row.count[cls] = (row.count[cls] || 0) + 1;
      row.ha[cls] = (row.ha[cls] || 0) + (Number(p.area_ha) || 0);
    }
    const urgency = (row) => config.classes.map((c) => row.ha[c.code] || 0);
    return [...rows.values()].sort((a, b) => {
      const [ua, ub] = [urgency(a), urgency(b)];
      const i = ua.findIndex((v, k) => v !== ub[k]);
      return i >= 0 ? ub[i] - ua[i] : String(a.commune).localeCompare(String(b.commune), "vi");
    });
  }

  function summaryCell(row, code) {
    const count = row.count[code] || 0;
    const ha = row.ha[code] || 0;
    const cell = element("td", { "data-class": code, "data-count": String(count), "data-ha": ha.toFixed(2) });
    if (!count) cell.append(element("span", { class: "none" }, ["–"]));
    else cell.append(String(count), element("br"), numberFormat({ maximumFractionDigits: 1 }).format(ha));
    return cell;
  }

  function renderSummary() {
    const t = text();
    const table = document.querySelector("#summary table");
    const head = element("tr", {}, [element("th", {}, [t.commune, element("span", { class: "district" }, [t.summaryNote])])]);
    config.classes.forEach((c) => head.append(element("th", { "data-class": c.code }, [classLabel(c.code)])));
    table.tHead.replaceChildren(head);
    const rows = communeTotals();
    table.tBodies[0].replaceChildren(...rows.map((row) => {
      const name = element("td", {}, [String(row.commune), element("span", { class: "district" }, [String(row.district)])]);
      const tr = element("tr", { "data-commune": String(row.commune), "data-district": String(row.district) }, [name]);
      config.classes.forEach((c) => tr.append(summaryCell(row, c.code)));
      return tr;
    }));
    const total = { count: {}, ha: {} };
    rows.forEach((row) => config.classes.forEach((c) => {
      total.count[c.code] = (total.count[c.code] || 0) + (row.count[c.code] || 0);
      total.ha[c.code] = (total.ha[c.code] || 0) + (row.ha[c.code] || 0);
    }));
    const foot = element("tr", { "data-total": "" }, [element("td", {}, [t.total])]);
    config.classes.forEach((c) => foot.append(summaryCell(total, c.code)));
    table.tFoot.replaceChildren(foot);
  }

  // --- state changes ---------------------------------------------------------------------
  function render() {
    drawParcels();
    labelPanel();
    renderSummary();
  }

  function setFilter(filter) {
    page.choosePestHorizon(config, state, filter);
    const classCodes = config.classes.map((c) => c.code);
    if (filter.classes !== undefined) state.classes = new Set(filter.classes.map((c) => page.known("class", classCodes, c)));
    document.querySelectorAll("input[name=class]").forEach((i) => { i.checked = state.classes.has(i.value); });
    render();
  }

  function setLanguage(lang) {
    state.lang = lang === "vi" ? "vi" : "en";
    if (config.index) document.querySelector("#index-link a").href = `${config.index}#${state.lang}`;
    render();
  }

  // A commune's page of a split map: its name, and a link back to the index of communes.
  function showPlace() {
    if (config.place) {
      document.getElementById("place").textContent = `${config.place.commune}, ${config.place.district}`;
      document.getElementById("place-line").hidden = false;
    }
    if (config.index) document.getElementById("index-link").hidden = false;
  }

  buildControls();
  showPlace();
  document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => setLanguage(b.dataset.lang)));
  document.getElementById("basemap").addEventListener("change", (e) => setBasemap(e.target.checked));
  document.getElementById("forecast-date").textContent = config.forecastDate;
  document.getElementById("model-version").textContent = config.modelVersion;
  setLanguage(state.lang);
  fitParcels();

  // --- a small API for tests and for officers' own scripts --------------------------------
  function clientPoint(parcelId) {
    const layer = layers.get(String(parcelId));
    const centre = shown.hasLayer(layer) ? layer.getCenter() : layer.getBounds().getCenter();
    const point = map.latLngToContainerPoint(centre);
    const box = map.getContainer().getBoundingClientRect();
    return { x: box.left + point.x, y: box.top + point.y };
  }

  window.pestcastMap = {
    parcelCount: () => layers.size,
    drawnCount: () => shown.getLayers().length,
    drawnIds: () => shown.getLayers().map((l) => String(l.feature.properties.parcel_id)).sort(),
    state: () => ({ lang: state.lang, pest: state.pest, horizon: state.horizon, classes: [...state.classes] }),
    setFilter,
    setLanguage,
    setBasemap,
    openPopup: (parcelId) => { layers.get(String(parcelId)).openPopup(); },
    parcelStyle: (parcelId) => {
      const o = layers.get(String(parcelId)).options;
      return { color: o.color, weight: o.weight, dashArray: o.dashArray ?? null, fillColor: o.fillColor, fillOpacity: o.fillOpacity };
    },
    popupText: () => (openLayer ? openLayer.getPopup().getElement().querySelector(".leaflet-popup-content").innerText : ""),
    clientPoint,
  };
  document.body.dataset.ready = "true";
})();
