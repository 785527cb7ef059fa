// The sgtui sound page: plays what the app asks, received as server-sent events.
// State for people and tests: body[data-state|data-connected|data-enabled|data-seq|data-lines].
"use strict";
(() => {
  const body = document.body;
  const audio = document.getElementById("player");
  const conn = document.getElementById("conn");
  const status = document.getElementById("status");
  const list = document.getElementById("lines");
  const opus = audio.canPlayType('audio/ogg; codecs="opus"') !== "";
  let enabled = false;
  let pending = null; // a play that arrived before sound was enabled
  let lastSeq = -1;
  let source = null;
  let lastMessage = 0;
  let current = null; // the play being played

  if (location.search.includes("token=")) history.replaceState(null, "", "/");

  function setConnected(on) {
    body.dataset.connected = on ? "yes" : "no";
    conn.textContent = on ? "connected" : "not connected — reconnecting…";
    conn.className = on ? "on" : "off";
  }

  function show(ev) {
    list.replaceChildren();
    for (const line of ev.lines) {
      const li = document.createElement("li");
      const time = document.createElement("span");
      time.className = "time";
      time.textContent = `${line.time}–${line.end} `;
      const who = document.createElement("span");
      who.className = "cluster";
      who.textContent = `${line.cluster} `;
      li.append(time, who, document.createTextNode(line.text));
      list.append(li);
    }
  }

  function start(ev) {
    lastSeq = ev.seq;
    body.dataset.seq = String(ev.seq);
    body.dataset.lines = ev.lines.map((l) => l.id).join(",");
    show(ev);
    if (!enabled) {
      pending = ev;
      status.textContent = `Asked to play ${ev.what}: click “Enable sound” first.`;
      return;
    }
    pending = null;
    current = ev;
    status.textContent = `Playing ${ev.what}`;
    audio.src = opus ? ev.url : ev.wav_url;
    audio.play().catch((err) => {
      status.textContent = `The browser refused to play: ${err.message}. Click “Enable sound”.`;
      body.dataset.state = "blocked";
    });
  }

  function stop() {
    pending = null;
    if (!audio.paused) audio.pause();
    status.textContent = "Stopped.";
    body.dataset.state = audio.src ? "paused" : "idle";
  }

  audio.addEventListener("playing", () => { body.dataset.state = "playing"; });
  audio.addEventListener("pause", () => { if (!audio.ended) body.dataset.state = "paused"; });
  audio.addEventListener("ended", () => {
    body.dataset.state = "ended";
    status.textContent = "Played.";
  });
  audio.addEventListener("error", () => {
    // A browser that claims Opus but cannot play this clip gets the WAV instead, once.
    if (current && audio.src.endsWith(current.url) && current.wav_url !== current.url) {
      audio.src = current.wav_url;
      audio.play().catch(() => {});
      return;
    }
    body.dataset.state = "error";
    status.textContent = "This clip could not be loaded or decoded.";
  });

  document.getElementById("enable").addEventListener("click", () => {
    enabled = true;
    body.dataset.enabled = "yes";
    if (pending) start(pending);
    else status.textContent = "Sound is on. Play a line in sgtui.";
  });

  // A 403 means sgtui was started again (a new token): only its new URL can work.
  function checkToken() {
    fetch("/page.css", { cache: "no-store" }).then((r) => {
      if (r.status !== 403) return;
      body.dataset.stale = "yes";
      status.textContent = "sgtui was started again since this page was opened: open the " +
        "new URL that it shows (the tunnel can stay).";
    }).catch(() => {});
  }

  function connect() {
    if (source) source.close();
    source = new EventSource("/events");
    source.onopen = () => {
      lastMessage = Date.now();
      body.dataset.stale = "no";
      setConnected(true);
    };
    source.onerror = () => {
      setConnected(false);
      // A refused or broken stream closes for good; open a new one (the tunnel may be back).
      if (source.readyState === EventSource.CLOSED) {
        checkToken();
        setTimeout(connect, 2000);
      }
    };
    const seen = () => { lastMessage = Date.now(); setConnected(true); };
    source.addEventListener("ping", seen);
    source.addEventListener("play", (e) => { seen(); start(JSON.parse(e.data)); });
    source.addEventListener("stop", () => { seen(); stop(); });
    source.addEventListener("state", (e) => {
      // Re-sync after a (re)connection: play what is still playing, or stop.
      seen();
      const s = JSON.parse(e.data);
      if (s.kind === "play" && s.seq !== lastSeq && s.remaining_s > 0) start(s);
      else if (s.kind === "stop" && !audio.paused) stop();
    });
  }

  // A half-open tunnel delivers nothing, not even an error: reconnect when pings stop.
  setInterval(() => {
    if (lastMessage && Date.now() - lastMessage > 20000) {
      lastMessage = 0;
      setConnected(false);
      connect();
    }
  }, 5000);
  connect();
})();
