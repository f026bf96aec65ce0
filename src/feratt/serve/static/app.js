// The feratt page: photos or webcam frames go to POST /v1/predict; each face is shown boxed,
// with its label, a bar chart of the probabilities and the input / attention image / map.
"use strict";

const $ = (id) => document.getElementById(id);
const results = $("results");
const status = $("status");
let camera = null; // {stream, timer} while the webcam runs

function say(text, error = false) {
  status.textContent = text;
  status.classList.toggle("error", error);
}

async function predict(blobs) {
  const form = new FormData();
  for (const [blob, name] of blobs) form.append("images", blob, name);
  const response = await fetch("/v1/predict?attention=true", { method: "POST", body: form });
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) throw new Error(`${response.status}: ${body.detail}`);
  return body;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawBoxes(canvas, source, faces) {
  canvas.width = source.videoWidth || source.naturalWidth;
  canvas.height = source.videoHeight || source.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(source, 0, 0);
  const line = Math.max(2, canvas.width / 300);
  context.lineWidth = line;
  context.font = `${Math.max(14, canvas.width / 35)}px sans-serif`;
  for (const face of faces) {
    const { x, y, w, h } = face.box;
    const text = `${face.label} ${face.confidence.toFixed(2)}`;
    context.strokeStyle = context.fillStyle = "#28c75a";
    context.strokeRect(x, y, w, h);
    const height = parseInt(context.font, 10) + 4;
    context.fillRect(x - line / 2, Math.max(0, y - height), context.measureText(text).width + 8, height);
    context.fillStyle = "#fff";
    context.fillText(text, x + 4, Math.max(height, y) - 5);
  }
}

function bars(probabilities, label) {
  const chart = element("div", "bars");
  for (const [name, p] of Object.entries(probabilities)) {
    chart.append(element("span", "", name));
    const bar = element("div", name === label ? "bar best" : "bar");
    bar.style.width = `${(100 * p).toFixed(1)}%`;
    chart.append(bar, element("span", "", p.toFixed(3)));
  }
  return chart;
}

function attentionPanel(images) {
  const panel = element("div", "attention-panel");
  const tiles = [["input", "input"], ["attention_image", "attention image"],
    ["attention_map", "attention map"]];
  for (const [key, caption] of tiles) {
    if (!images[key]) continue;
    const figure = element("figure");
    const img = element("img");
    img.alt = caption;
    img.src = `data:image/png;base64,${images[key]}`;
    figure.append(img, element("figcaption", "", caption));
    panel.append(figure);
  }
  return panel;
}

function showImage(result, source, card) {
  card.replaceChildren(element("h2", "", `${result.filename}: ${result.faces.length} face(s)`));
  const canvas = element("canvas");
  drawBoxes(canvas, source, result.faces);
  const faces = element("div", "faces");
  result.faces.forEach((face, index) => {
    const box = element("div", "face");
    box.dataset.index = index;
    box.append(element("div", "face-label", face.label));
    if (face.images) box.append(attentionPanel(face.images));
    box.append(bars(face.probabilities, face.label));
    faces.append(box);
  });
  card.append(canvas, faces);
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`${file.name}: the browser cannot show this file`));
    img.src = URL.createObjectURL(file);
  });
}

async function handleFiles(files) {
  if (!files.length) return;
  stopCamera();
  say(`recognising ${files.length} file(s)…`);
  try {
    const answer = await predict([...files].map((f) => [f, f.name]));
    results.replaceChildren();
    for (const [i, result] of answer.images.entries()) {
      const card = element("div", "image");
      results.append(card);
      const source = await loadImage(files[i]).catch(() => null);
      if (source) showImage(result, source, card);
      else card.append(element("h2", "", `${result.filename}: ${result.faces.length} face(s)`));
    }
    say(`${answer.images.length} image(s) done`);
  } catch (err) {
    say(err.message, true);
  }
}

async function startCamera() {
  const video = $("video");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    video.srcObject = stream;
    camera = { stream, busy: false };
  } catch (err) {
    say(`webcam: ${err.message}`, true);
    return;
  }
  $("camera").textContent = "Stop webcam";
  results.replaceChildren();
  const card = element("div", "image");
  results.append(card);
  const grab = element("canvas");
  const period = () => 1000 / Number($("fps").value);
  const tick = async () => {
    if (!camera) return;
    const started = performance.now();
    if (video.videoWidth) {
      grab.width = video.videoWidth;
      grab.height = video.videoHeight;
      grab.getContext("2d").drawImage(video, 0, 0);
      const blob = await new Promise((r) => grab.toBlob(r, "image/jpeg", 0.85));
      try {
        const answer = await predict([[blob, "webcam.jpg"]]);
        if (camera) showImage(answer.images[0], grab, card);
        say(`webcam: ${answer.images[0].faces.length} face(s)`);
      } catch (err) {
        say(`webcam: ${err.message}`, true);
      }
    }
    // One frame in flight at a time, and no more often than the chosen rate.
    if (camera) camera.timer = setTimeout(tick, Math.max(0, period() - (performance.now() - started)));
  };
  tick();
}

function stopCamera() {
  if (!camera) return;
  clearTimeout(camera.timer);
  camera.stream.getTracks().forEach((track) => track.stop());
  camera = null;
  $("camera").textContent = "Start webcam";
}

$("camera").addEventListener("click", () => (camera ? stopCamera() : startCamera()));
$("files").addEventListener("change", (event) => handleFiles(event.target.files));
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  handleFiles(event.dataTransfer.files);
});

fetch("/v1/model").then((r) => r.json()).then((m) => {
  $("model").textContent = `${m.name} (${m.architecture}, ${m.classes.length} classes)`;
}).catch(() => say("cannot reach the server", true));
