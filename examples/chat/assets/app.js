// The chat page's script: the unmodified official phoenix client from npm,
// bundled by esbuild at build time (cmake/KilnChatAssets.cmake).
import { Socket, Presence } from "phoenix";

const $ = (sel) => document.querySelector(sel);
const userId = sessionStorage.getItem("chat:user") || `user-${Math.floor(Math.random() * 100000)}`;
sessionStorage.setItem("chat:user", userId);
$("#me").textContent = userId;

const socket = new Socket("/socket", { params: { user_id: userId } });
socket.connect();

const lobby = socket.channel("presence:lobby", { user_id: userId });
const presence = new Presence(lobby);
presence.onSync(() => {
  const list = $("#online");
  list.replaceChildren();
  presence.list((id, { metas }) => {
    const li = document.createElement("li");
    li.textContent = `${id} (${metas.length})`;
    list.appendChild(li);
  });
});
lobby.join();

let room = null;
function addLine(text) {
  const li = document.createElement("li");
  li.textContent = text;
  $("#messages").appendChild(li);
}

function joinRoom(name) {
  if (room) room.leave();
  $("#messages").replaceChildren();
  room = socket.channel(`room:${name}`, {});
  room.on("shout", (msg) => addLine(`${msg.user}: ${msg.body}`));
  room.join()
    .receive("ok", () => { $("#room").textContent = name; addLine(`joined room:${name}`); })
    .receive("error", (r) => addLine(`cannot join room:${name}: ${r.reason}`));
}

$("#room-form").addEventListener("submit", (e) => { e.preventDefault(); joinRoom($("#room-name").value || "lobby"); });
$("#msg-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const body = $("#msg").value;
  if (room && body) room.push("shout", { user: userId, body });
  $("#msg").value = "";
});
joinRoom("lobby");
window.chat = { socket, lobby, presence, get room() { return room; } };
