// wskit chat: the browser side of `wskit demo`. Plain JavaScript, no build step, no CDN.
//
// One WebSocket to /ws?name=NAME speaking the operation envelope
// {"type": ..., "payload": ..., "id": ...} (the protocol is documented at /asyncapi).
// After a drop it reconnects with capped exponential back-off with jitter and re-joins
// every room it was in. User data only ever reaches the page through textContent.
"use strict";

(() => {
  const STORAGE_KEY = "wskit-demo";
  const ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
  // Printable names only (no control characters), as the server checks.
  const NAME_BAD_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
  const MAX_NAME = 32;
  const MAX_MESSAGES = 200; // per room, kept in memory
  const REQUEST_TIMEOUT_MS = 10000;
  const TYPING_IDLE_MS = 3000; // stop "typing" after this long without a key press
  const TYPING_REPEAT_MS = 2500; // re-send "typing" at most this often while typing
  const TYPING_EXPIRE_MS = 6000; // forget someone's "typing" after this long
  const BACKOFF = { baseMs: 500, capMs: 15000 };
  const STABLE_MS = 5000; // a connection open this long resets the back-off

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $("connection-status"),
    retry: $("retry-now"),
    identity: $("identity"),
    meName: $("me-name"),
    rename: $("rename"),
    welcome: $("welcome"),
    nameForm: $("name-form"),
    nameInput: $("name-input"),
    nameError: $("name-error"),
    chat: $("chat"),
    roomList: $("room-list"),
    joinForm: $("join-form"),
    roomInput: $("room-input"),
    joinError: $("join-error"),
    roomTitle: $("room-title"),
    leave: $("leave-room"),
    messages: $("messages"),
    typing: $("typing"),
    sendForm: $("send-form"),
    input: $("message-input"),
    sendButton: $("send-button"),
    sendError: $("send-error"),
    presence: $("presence"),
  };

  // --- state ------------------------------------------------------------------------

  const saved = loadSaved();
  const state = {
    name: saved.name,
    sid: null,
    mySids: new Set(), // this page's session ids, across reconnections
    rooms: new Map(), // room -> {messages, ids, members, version, typing: Map, unread, joined}
    active: null,
    ws: null,
    attempt: 0,
    openedAt: 0,
    retryTimer: null,
    retryAt: 0,
    countdown: null,
    nextId: 1,
    pending: new Map(), // correlation id -> {resolve, reject, timer}
    typingSentAt: 0,
    typingRoom: null,
    typingIdle: null,
  };
  for (const room of saved.rooms) state.rooms.set(room, newRoom());
  if (saved.active && state.rooms.has(saved.active)) state.active = saved.active;

  function newRoom() {
    return { messages: [], ids: new Set(), members: [], version: -1, typing: new Map(), unread: 0, joined: false };
  }

  function loadSaved() {
    try {
      const data = JSON.parse(localStorage.getItem(STORAGE_KEY) || "{}");
      const rooms = Array.isArray(data.rooms) ? data.rooms.filter((r) => typeof r === "string" && ROOM_RE.test(r)) : [];
      const name = typeof data.name === "string" ? validName(data.name) : null;
      return { name, rooms: rooms.slice(0, 10), active: typeof data.active === "string" ? data.active : null };
    } catch {
      return { name: null, rooms: [], active: null };
    }
  }

  function save() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify({ name: state.name, rooms: [...state.rooms.keys()], active: state.active }));
    } catch {
      // Storage may be disabled (private mode); the chat works without it.
    }
  }

  function validName(value) {
    const name = value.trim();
    if (name.length < 1 || [...name].length > MAX_NAME || NAME_BAD_RE.test(name)) return null;
    return name;
  }

  // --- connection -------------------------------------------------------------------

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws?name=${encodeURIComponent(state.name)}`;
  }

  function connect() {
    clearRetry();
    if (!state.name) return;
    setStatus("connecting", state.attempt ? `Reconnecting (attempt ${state.attempt + 1})…` : "Connecting…");
    const ws = new WebSocket(socketUrl());
    state.ws = ws;
    ws.addEventListener("message", (event) => {
      if (ws !== state.ws) return;
      let envelope;
      try {
        envelope = JSON.parse(event.data);
      } catch {
        return;
      }
      handle(envelope);
    });
    ws.addEventListener("close", (event) => {
      if (ws !== state.ws) return; // a socket we replaced on purpose
      // A connection that lived a while starts the back-off again; one the server ends at
      // once (overloaded, restarting) keeps growing it, so clients do not hammer it.
      if (state.openedAt && Date.now() - state.openedAt > STABLE_MS) state.attempt = 0;
      state.openedAt = 0;
      state.ws = null;
      state.sid = null;
      failPending("connection closed");
      for (const room of state.rooms.values()) {
        // Who is there is unknown until the server says again (its versions may restart).
        room.joined = false;
        room.members = [];
        room.version = -1;
        for (const entry of room.typing.values()) clearTimeout(entry.timer);
        room.typing.clear();
      }
      render();
      scheduleReconnect(event.code);
    });
  }

  // Capped exponential back-off with "equal jitter": half the delay is fixed, half random,
  // so clients that lost the same server do not all come back in the same millisecond.
  function backoffDelay(attempt) {
    const ceiling = Math.min(BACKOFF.capMs, BACKOFF.baseMs * 2 ** attempt);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  function scheduleReconnect(code) {
    const delay = backoffDelay(state.attempt);
    state.attempt += 1;
    state.retryAt = Date.now() + delay;
    const why = code === 1001 ? "Server restarting" : "Disconnected";
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      setStatus("waiting", `${why}. Reconnecting in ${seconds} s…`);
    };
    tick();
    state.countdown = setInterval(tick, 500);
    state.retryTimer = setTimeout(connect, delay);
    el.retry.hidden = false;
  }

  function clearRetry() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdown);
    state.retryTimer = state.countdown = null;
    el.retry.hidden = true;
  }

  function disconnect() {
    clearRetry();
    const ws = state.ws;
    state.ws = null;
    state.sid = null;
    if (ws) ws.close(1000, "bye");
    failPending("connection closed");
  }

  function setStatus(kind, text) {
    el.status.dataset.state = kind;
    el.status.textContent = text;
    document.body.dataset.connection = kind;
  }

  function send(type, payload, id) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    const envelope = id === undefined ? { type, payload } : { type, payload, id };
    ws.send(JSON.stringify(envelope));
    return true;
  }

  // A request with a correlation id; resolves with the reply's payload, rejects with the
  // error envelope's payload (or a local error).
  function request(type, payload) {
    const id = state.nextId++;
    return new Promise((resolve, reject) => {
      if (!send(type, payload, id)) {
        reject({ code: "offline", message: "Not connected: the message was not sent." });
        return;
      }
      const timer = setTimeout(() => {
        state.pending.delete(id);
        reject({ code: "timeout", message: "The server did not answer in time." });
      }, REQUEST_TIMEOUT_MS);
      state.pending.set(id, { resolve, reject, timer });
    });
  }

  function failPending(message) {
    for (const { reject, timer } of state.pending.values()) {
      clearTimeout(timer);
      reject({ code: "offline", message });
    }
    state.pending.clear();
  }

  // --- inbound ----------------------------------------------------------------------

  function handle(envelope) {
    if (!envelope || typeof envelope !== "object") return;
    const { type, payload, id } = envelope;
    if (id !== undefined && id !== null && state.pending.has(id)) {
      const { resolve, reject, timer } = state.pending.get(id);
      clearTimeout(timer);
      state.pending.delete(id);
      if (type === "error") reject(payload || {});
      else resolve(payload);
      return;
    }
    const handler = HANDLERS[type];
    if (handler && payload && typeof payload === "object") handler(payload);
  }

  const HANDLERS = {
    session(p) {
      state.sid = p.sid;
      state.mySids.add(p.sid);
      state.openedAt = Date.now();
      setStatus("open", "Connected");
      for (const room of state.rooms.keys()) joinRoom(room, { quiet: true });
      render();
    },
    "message.new"(p) {
      const room = state.rooms.get(p.room);
      if (!room) return;
      if (addMessage(room, p) && p.room !== state.active) room.unread += 1;
      if (p.room === state.active) appendMessageElement(p);
      clearTyping(room, p.sid);
      renderRooms();
      renderTyping();
    },
    history(p) {
      const room = state.rooms.get(p.room);
      if (!room || !Array.isArray(p.messages)) return;
      let added = false;
      for (const message of p.messages) added = addMessage(room, message) || added;
      if (added) {
        room.messages.sort((a, b) => a.ts - b.ts);
        if (p.room === state.active) renderMessages();
      }
    },
    presence(p) {
      const room = state.rooms.get(p.room);
      if (!room || !Array.isArray(p.members) || p.version < room.version) return;
      room.version = p.version;
      room.members = p.members;
      if (p.room === state.active) renderPresence();
    },
    typing(p) {
      const room = state.rooms.get(p.room);
      if (!room || p.sid === state.sid) return;
      clearTyping(room, p.sid);
      if (p.active) {
        const timer = setTimeout(() => {
          room.typing.delete(p.sid);
          renderTyping();
        }, TYPING_EXPIRE_MS);
        room.typing.set(p.sid, { name: p.name, timer });
      }
      renderTyping();
    },
    error(p) {
      showError(el.sendError, p.message || "Something went wrong.");
    },
  };

  function addMessage(room, message) {
    if (room.ids.has(message.id)) return false;
    room.ids.add(message.id);
    room.messages.push(message);
    while (room.messages.length > MAX_MESSAGES) room.ids.delete(room.messages.shift().id);
    return true;
  }

  function clearTyping(room, sid) {
    const entry = room.typing.get(sid);
    if (entry) {
      clearTimeout(entry.timer);
      room.typing.delete(sid);
    }
  }

  // --- actions ----------------------------------------------------------------------

  function joinRoom(name, { quiet = false } = {}) {
    if (!state.rooms.has(name)) state.rooms.set(name, newRoom());
    if (!quiet || !state.active) state.active = name;
    save();
    render();
    request("room.join", { room: name }).then(
      () => {
        const room = state.rooms.get(name);
        if (room) room.joined = true;
        render();
      },
      (error) => {
        if (error.code === "offline") return; // re-joined on the next connection
        state.rooms.delete(name);
        if (state.active === name) state.active = state.rooms.keys().next().value || null;
        save();
        render();
        showError(el.joinError, error.message || `Could not join ${name}.`);
      },
    );
  }

  function leaveRoom(name) {
    const room = state.rooms.get(name);
    if (!room) return;
    for (const sid of [...room.typing.keys()]) clearTyping(room, sid);
    state.rooms.delete(name);
    if (state.active === name) state.active = state.rooms.keys().next().value || null;
    save();
    request("room.leave", { room: name }).catch(() => {});
    render();
  }

  function selectRoom(name) {
    if (!state.rooms.has(name)) return;
    state.active = name;
    state.rooms.get(name).unread = 0;
    save();
    render();
    el.input.focus();
  }

  function sendTyping(active) {
    const room = state.active;
    if (!room) return;
    if (active) {
      const now = Date.now();
      if (state.typingRoom !== room || now - state.typingSentAt > TYPING_REPEAT_MS) {
        if (state.typingRoom && state.typingRoom !== room) send("typing", { room: state.typingRoom, active: false });
        send("typing", { room, active: true });
        state.typingSentAt = now;
        state.typingRoom = room;
      }
      clearTimeout(state.typingIdle);
      state.typingIdle = setTimeout(() => sendTyping(false), TYPING_IDLE_MS);
    } else if (state.typingRoom) {
      clearTimeout(state.typingIdle);
      send("typing", { room: state.typingRoom, active: false });
      state.typingRoom = null;
      state.typingSentAt = 0;
    }
  }

  function showError(node, text) {
    node.textContent = text;
    clearTimeout(node._timer);
    node._timer = setTimeout(() => {
      node.textContent = "";
    }, 6000);
  }

  // --- rendering --------------------------------------------------------------------

  function render() {
    const named = Boolean(state.name);
    el.welcome.hidden = named;
    el.chat.hidden = !named;
    el.identity.hidden = !named;
    el.meName.textContent = state.name || "";
    renderRooms();
    renderConversation();
  }

  function renderRooms() {
    const items = [];
    for (const [name, room] of state.rooms) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "room-button";
      button.dataset.room = name;
      if (name === state.active) button.setAttribute("aria-current", "true");
      const label = document.createElement("span");
      label.textContent = `#${name}`;
      const badge = document.createElement("span");
      badge.className = "badge";
      if (room.unread) {
        badge.textContent = String(room.unread);
        badge.setAttribute("aria-label", `${room.unread} unread`);
      }
      button.append(label, badge);
      button.addEventListener("click", () => selectRoom(name));
      li.append(button);
      items.push(li);
    }
    el.roomList.replaceChildren(...items);
  }

  function renderConversation() {
    const room = state.active ? state.rooms.get(state.active) : null;
    const online = Boolean(state.sid);
    el.roomTitle.textContent = room ? `#${state.active}` : "No room selected";
    el.leave.hidden = !room;
    el.input.disabled = !room;
    el.sendButton.disabled = !room || !online;
    el.input.placeholder = room ? `Message #${state.active}` : "Join a room to chat";
    renderMessages();
    renderPresence();
    renderTyping();
  }

  function messageElement(message) {
    const li = document.createElement("li");
    li.className = state.mySids.has(message.sid) ? "message mine" : "message";
    li.dataset.id = message.id;
    const meta = document.createElement("div");
    meta.className = "meta";
    const author = document.createElement("span");
    author.className = "author";
    author.textContent = message.name;
    const time = document.createElement("time");
    const date = new Date(message.ts);
    time.dateTime = date.toISOString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.append(author, time);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = message.text;
    li.append(meta, text);
    return li;
  }

  function nearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function renderMessages() {
    const room = state.active ? state.rooms.get(state.active) : null;
    el.messages.replaceChildren(...(room ? room.messages.map(messageElement) : []));
    el.messages.scrollTop = el.messages.scrollHeight;
  }

  function appendMessageElement(message) {
    const stick = nearBottom() || state.mySids.has(message.sid);
    el.messages.append(messageElement(message));
    while (el.messages.childElementCount > MAX_MESSAGES) el.messages.firstElementChild.remove();
    if (stick) el.messages.scrollTop = el.messages.scrollHeight;
  }

  function renderPresence() {
    const room = state.active ? state.rooms.get(state.active) : null;
    const members = room ? [...room.members].sort((a, b) => a.name.localeCompare(b.name)) : [];
    el.presence.replaceChildren(
      ...members.map((member) => {
        const li = document.createElement("li");
        li.dataset.sid = member.sid;
        const name = document.createElement("span");
        name.textContent = member.name;
        li.append(name);
        if (member.sid === state.sid) {
          const you = document.createElement("span");
          you.className = "you";
          you.textContent = "(you)";
          li.append(you);
        }
        return li;
      }),
    );
    $("people-title").textContent = room ? `In this room (${members.length})` : "In this room";
  }

  function renderTyping() {
    const room = state.active ? state.rooms.get(state.active) : null;
    const names = room ? [...room.typing.values()].map((t) => t.name) : [];
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    el.typing.textContent = text;
  }

  // --- events -----------------------------------------------------------------------

  el.nameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = validName(el.nameInput.value);
    if (!name) {
      el.nameInput.setAttribute("aria-invalid", "true");
      el.nameError.textContent = "Use 1 to 32 printable characters.";
      el.nameInput.focus();
      return;
    }
    el.nameInput.removeAttribute("aria-invalid");
    el.nameError.textContent = "";
    state.name = name;
    if (state.rooms.size === 0) {
      state.rooms.set("lobby", newRoom());
      state.active = "lobby";
    }
    save();
    render();
    state.attempt = 0;
    connect();
    el.roomInput.focus();
  });

  el.rename.addEventListener("click", () => {
    disconnect();
    el.nameInput.value = state.name || "";
    state.name = null;
    save();
    setStatus("idle", "Not connected");
    render();
    el.nameInput.focus();
  });

  el.joinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = el.roomInput.value.trim().toLowerCase().replace(/^#/, "");
    if (!ROOM_RE.test(name)) {
      el.roomInput.setAttribute("aria-invalid", "true");
      showError(el.joinError, "Use 1 to 32 lower-case letters, digits, “-” or “_”.");
      return;
    }
    el.roomInput.removeAttribute("aria-invalid");
    el.joinError.textContent = "";
    el.roomInput.value = "";
    if (state.rooms.has(name)) selectRoom(name);
    else joinRoom(name);
  });

  el.leave.addEventListener("click", () => {
    if (state.active) leaveRoom(state.active);
  });

  el.retry.addEventListener("click", () => connect());

  el.sendForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = el.input.value;
    const room = state.active;
    if (!room || !text.trim()) return;
    sendTyping(false);
    request("message.send", { room, text }).then(
      () => {
        el.sendError.textContent = "";
      },
      (error) => {
        if (el.input.value === "") el.input.value = text; // give the text back
        showError(el.sendError, error.message || "The message was not sent.");
      },
    );
    el.input.value = "";
    el.input.focus();
  });

  el.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      el.sendForm.requestSubmit();
    }
  });

  el.input.addEventListener("input", () => {
    if (el.input.value) sendTyping(true);
    else sendTyping(false);
  });

  // Reconnect at once when the network comes back or the tab wakes up.
  window.addEventListener("online", () => {
    if (state.name && !state.ws) connect();
  });

  // --- start ------------------------------------------------------------------------

  render();
  if (state.name) connect();
  else el.nameInput.focus();
})();
