// pestcast risk map index: the map.html of a publication split into a page per commune. Reads
// the page settings (#index-config, written by pestcast.flows.map_page: every commune with its
// parcels per class and hectares in high + medium for each pest and horizon, the link to its
// page and where its parcels are), lists districts → communes in a sortable table, draws one
// circle per commune on a small overview map and exposes window.pestcastIndex for tests. Text
// from the data is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("index-config").textContent);

  const TEXT = window.pestcastPage.withCommonText({
    en: {
      title: "Rice pest risk forecast: communes",
      extent: (communes, districts, parcels) =>
        `${communes} communes in ${districts} districts, ${parcels} parcels`,
      overviewTitle: "Communes on the map",
      legendTitle: "Share of parcels at high risk",
      noHigh: "none",
      communesTitle: "Parcels by commune and risk class",
      communesHint: "Open a commune to see its parcels on a map. Click a column heading to sort.",
      place: "District / commune",
      parcels: "Parcels",
      warningHa: "High + medium (ha)",
      total: "Province total",
      openMap: "Open the commune's map",
      highOf: (n, total) => `${n} of ${total} parcels at high risk`,
    },
    vi: {
      title: "Dự báo nguy cơ sâu bệnh hại lúa: các xã",
      extent: (communes, districts, parcels) =>
        `${communes} xã thuộc ${districts} huyện, ${parcels} thửa`,
      overviewTitle: "Các xã trên bản đồ",
      legendTitle: "Tỷ lệ thửa có nguy cơ cao",
      noHigh: "không có",
      communesTitle: "Số thửa theo xã và mức nguy cơ",
      communesHint: "Mở một xã để xem các thửa trên bản đồ. Bấm vào tiêu đề cột để sắp xếp.",
      place: "Huyện / xã",
      parcels: "Số thửa",
      warningHa: "Cao + trung bình (ha)",
      total: "Tổng toàn tỉnh",
      openMap: "Mở bản đồ của xã",
      highOf: (n, total) => `${n}/${total} thửa có nguy cơ cao`,
    },
  });

  const COLUMNS = ["parcels", ...config.classes.map((c) => c.code), "warningHa"];
  const page = window.pestcastPage;
  const { element } = page;
  const state = {
    lang: page.initialLanguage(),
    pest: config.pests[0].code,
    horizon: config.horizons[0],
    sort: { column: "name", descending: false },
  };

  const text = () => TEXT[state.lang];
  const key = () => `${state.pest}_h${state.horizon}`;
  const numberFormat = (options) => new Intl.NumberFormat(text().locale, options);
  const count = (n) => numberFormat({}).format(n);
  const percent = (share) => numberFormat({ style: "percent", maximumFractionDigits: 0 }).format(share);
  const link = (commune) => `${commune.href}#${state.lang}`;
  const names = new Intl.Collator("vi");

  // --- the figures of the chosen pest and horizon ------------------------------------------
  function figures(commune) {
    return { parcels: commune.parcels, ...commune.counts[key()], warningHa: commune.warningHa[key()] };
  }

  function sum(rows) {
    const total = Object.fromEntries(COLUMNS.map((c) => [c, 0]));
    rows.forEach((row) => COLUMNS.forEach((c) => { total[c] += row.figures[c]; }));
    return total;
  }

  function compare() {
    const { column, descending } = state.sort;
    const byName = (a, b) => names.compare(a.name, b.name);
    return (a, b) => {
      if (column === "name") return descending ? byName(b, a) : byName(a, b);
      const difference = a.figures[column] - b.figures[column];
      return (descending ? -difference : difference) || byName(a, b);
    };
  }

  // Districts with their communes, both in the chosen order.
  function districts() {
    const groups = new Map();
    config.communes.forEach((commune) => {
      if (!groups.has(commune.district)) groups.set(commune.district, []);
      groups.get(commune.district).push({ name: commune.commune, commune, figures: figures(commune) });
    });
    const order = compare();
    return [...groups.entries()]
      .map(([name, rows]) => ({ name, rows: rows.sort(order), figures: sum(rows) }))
      .sort(order);
  }

  function highShare(commune) {
    const f = figures(commune);
    return f.parcels ? f.high / f.parcels : 0;
  }

  function shareColour(share) {
    if (!(share > 0)) return "#FFFFFF";
    return config.highShareColours.filter((s) => share >= s.from).pop().colour;
  }

  // --- the table -----------------------------------------------------------------------------
  function columnLabel(column) {
    const classLabel = config.classes.find((c) => c.code === column);
    return classLabel ? classLabel[state.lang] : text()[column];
  }

  function headCell(column, label) {
    const button = element("button", { type: "button", "data-sort": column }, [label]);
    button.addEventListener("click", () => sortBy(column));
    const th = element("th", { "data-column": column, scope: "col" }, [button]);
    if (state.sort.column === column) th.setAttribute("aria-sort", state.sort.descending ? "descending" : "ascending");
    return th;
  }

  function cell(column, value) {
    const shown = column === "warningHa" ? value.toFixed(2) : String(value);
    const td = element("td", { "data-column": column, "data-value": shown });
    if (!value && column !== "parcels") td.append(element("span", { class: "none" }, ["–"]));
    else if (column === "warningHa") td.append(numberFormat({ minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value));
    else td.append(count(value));
    return td;
  }

  function row(attributes, name, values) {
    return element("tr", attributes, [name, ...COLUMNS.map((c) => cell(c, values[c]))]);
  }

  function renderTable() {
    const table = document.querySelector("#communes table");
    table.tHead.replaceChildren(element("tr", {}, [
      headCell("name", text().place), ...COLUMNS.map((c) => headCell(c, columnLabel(c)))]));
    const groups = districts();
    table.tBodies[0].replaceChildren(...groups.flatMap((group) => [
      row({ class: "district", "data-district": group.name }, element("td", {}, [group.name]), group.figures),
      ...group.rows.map(({ commune, figures: values }) => row(
        { "data-commune": commune.commune, "data-district": commune.district, "data-href": commune.href },
        element("td", {}, [element("a", { href: link(commune) }, [commune.commune])]),
        values)),
    ]));
    table.tFoot.replaceChildren(row({ "data-total": "" }, element("td", {}, [text().total]), sum(groups)));
  }

  function sortBy(column) {
    if (!["name", ...COLUMNS].includes(column)) throw new Error(`unknown column ${column}; one of name,${COLUMNS}`);
    const again = state.sort.column === column;
    state.sort = { column, descending: again ? !state.sort.descending : column !== "name" };
    render();
  }

  // --- the overview map ----------------------------------------------------------------------
  const map = L.map("overview", { zoomSnap: 0.25 });
  L.control.scale({ imperial: false }).addTo(map);
  const circles = new Map(); // href -> circle
  let openCommune = null;
  const setBasemap = page.basemapSwitch(map, config.tiles);
  const largest = config.communes.reduce((most, c) => Math.max(most, c.parcels), 1);

  config.communes.filter((c) => c.lat !== null && c.lon !== null).forEach((commune) => {
    const circle = L.circleMarker([commune.lat, commune.lon], {
      radius: 4 + 8 * Math.sqrt(commune.parcels / largest), color: "#7f0000", weight: 1, fillOpacity: 0.9,
    });
    circle.bindPopup(() => popupContent(commune), { minWidth: 200 });
    circle.on("popupopen", () => { openCommune = commune; });
    circle.on("popupclose", () => { if (openCommune === commune) openCommune = null; });
    circle.addTo(map);
    circles.set(commune.href, circle);
  });

  function fitCircles() {
    if (circles.size) map.fitBounds(L.featureGroup([...circles.values()]).getBounds(), { padding: [20, 20], maxZoom: 13 });
    else map.fitWorld();
  }

  function popupContent(commune) {
    const t = text();
    const f = figures(commune);
    return element("div", { class: "popup", "data-href": commune.href }, [
      element("h3", {}, [commune.commune]),
      element("p", {}, [`${t.district}: ${commune.district}`]),
      element("p", {}, [`${t.highOf(count(f.high), count(f.parcels))} (${percent(highShare(commune))})`]),
      element("p", {}, [element("a", { href: link(commune) }, [`${t.openMap} →`])]),
    ]);
  }

  function styleCircles() {
    config.communes.forEach((commune) => {
      const circle = circles.get(commune.href);
      if (circle) circle.setStyle({ fillColor: shareColour(highShare(commune)) });
    });
    if (openCommune) circles.get(openCommune.href).getPopup().update();
  }

  function renderLegend() {
    const t = text();
    const steps = config.highShareColours;
    const items = [[t.noHigh, "#FFFFFF"], ...steps.map((s, i) => {
      if (i === steps.length - 1) return [`≥ ${percent(s.from)}`, s.colour];
      if (i === 0) return [`< ${percent(steps[1].from)}`, s.colour];
      return [`${percent(s.from)}–${percent(steps[i + 1].from)}`, s.colour];
    })];
    document.querySelector("#legend ul").replaceChildren(...items.map(([label, colour]) => {
      const swatch = element("span", { class: "swatch" });
      swatch.style.background = colour;
      return element("li", {}, [swatch, label]);
    }));
  }

  // --- the panel -----------------------------------------------------------------------------
  function labelPanel() {
    const t = text();
    page.labelPanel(config, state, t, `${t.title} — ${config.forecastDate}`);
    const districtCount = new Set(config.communes.map((c) => c.district)).size;
    const parcels = config.communes.reduce((total, c) => total + c.parcels, 0);
    document.getElementById("extent").textContent = t.extent(count(config.communes.length), count(districtCount), count(parcels));
    renderLegend();
  }

  // --- state changes -------------------------------------------------------------------------
  function render() {
    labelPanel();
    renderTable();
    styleCircles();
  }

  function setFilter(filter) {
    page.choosePestHorizon(config, state, filter);
    render();
  }

  function setLanguage(lang) {
    state.lang = lang === "vi" ? "vi" : "en";
    render();
  }

  page.buildPestHorizonChoice(config, state, setFilter);
  document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => setLanguage(b.dataset.lang)));
  document.getElementById("basemap").addEventListener("change", (e) => setBasemap(e.target.checked));
  document.getElementById("forecast-date").textContent = config.forecastDate;
  document.getElementById("model-version").textContent = config.modelVersion;
  render();
  fitCircles();

  // --- a small API for tests and for officers' own scripts ----------------------------------
  function clientPoint(href) {
    const point = map.latLngToContainerPoint(circles.get(href).getLatLng());
    const box = map.getContainer().getBoundingClientRect();
    return { x: box.left + point.x, y: box.top + point.y };
  }

  window.pestcastIndex = {
    communeCount: () => config.communes.length,
    circleCount: () => circles.size,
    circleColour: (href) => circles.get(href).options.fillColor,
    state: () => ({ lang: state.lang, pest: state.pest, horizon: state.horizon, sort: { ...state.sort } }),
    setFilter,
    setLanguage,
    setBasemap,
    sortBy,
    openPopup: (href) => { circles.get(href).openPopup(); },
    clientPoint,
  };
  document.body.dataset.ready = "true";
})();
