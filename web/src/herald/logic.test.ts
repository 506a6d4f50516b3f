import { describe, expect, it, vi } from "vitest";
import { applyPresence, connectionState, lastId, markFailed, mergeMessages, typingDebouncer, type ChatMessage } from "./logic";

const msg = (id: string, state: ChatMessage["state"] = "sent", extra: Partial<ChatMessage> = {}): ChatMessage => ({
  id, roomId: "r", content: id, author: { id: "a", name: "A" }, createdAt: "", state, ...extra,
});

describe("mergeMessages", () => {
  it("keeps order and drops duplicates (an ack and the broadcast of the same message)", () => {
    let list = mergeMessages([], [msg("02"), msg("01")]);
    list = mergeMessages(list, [msg("02"), msg("03")]);
    expect(list.map((m) => m.id)).toEqual(["01", "02", "03"]);
  });
  it("replaces a pending message by the stored one", () => {
    let list = mergeMessages([msg("01")], [msg("tmp-1", "pending")]);
    expect(list.map((m) => m.state)).toEqual(["sent", "pending"]);
    list = mergeMessages(list, [msg("05", "sent", { tempId: "tmp-1" })]);
    expect(list.map((m) => m.id)).toEqual(["01", "05"]);
    expect(lastId(list)).toBe("05");
  });
  it("replaces a pending message by a broadcast with its client id, before the ack", () => {
    let list = mergeMessages([msg("01")], [msg("c-1", "pending", { clientId: "c-1" })]);
    list = mergeMessages(list, [msg("05", "sent", { clientId: "c-1" })]);
    expect(list.map((m) => m.id)).toEqual(["01", "05"]);
    list = mergeMessages(list, [msg("05", "sent", { tempId: "c-1", clientId: "c-1" })]); // then the ack
    expect(list.map((m) => [m.id, m.state])).toEqual([["01", "sent"], ["05", "sent"]]);
  });
  it("marks failures", () => {
    const list = markFailed([msg("tmp-1", "pending")], "tmp-1");
    expect(list[0].state).toBe("failed");
    expect(lastId(list)).toBeUndefined();
  });
});

describe("connectionState", () => {
  it("maps client state to what a user sees", () => {
    expect(connectionState({ connected: true, reconnecting: false, everConnected: true, online: true })).toBe("connected");
    expect(connectionState({ connected: false, reconnecting: false, everConnected: false, online: true })).toBe("connecting");
    expect(connectionState({ connected: false, reconnecting: true, everConnected: true, online: true })).toBe("reconnecting");
    expect(connectionState({ connected: false, reconnecting: true, everConnected: true, online: false })).toBe("offline");
  });
});

describe("typingDebouncer", () => {
  it("starts once, stops after idle, or at once on flush", () => {
    vi.useFakeTimers();
    const start = vi.fn(), stop = vi.fn();
    const t = typingDebouncer(start, stop, 2000);
    t.input(); t.input(); t.input();
    expect(start).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1999);
    expect(stop).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(stop).toHaveBeenCalledTimes(1);
    t.input();
    t.flush();
    expect(start).toHaveBeenCalledTimes(2);
    expect(stop).toHaveBeenCalledTimes(2);
    t.flush();
    expect(stop).toHaveBeenCalledTimes(2);
    vi.useRealTimers();
  });
});

describe("applyPresence", () => {
  it("applies pages and changes in order: offline drops, lastSeen is kept when a change lacks it", () => {
    let m = applyPresence(new Map(), [
      { userId: "a", name: "A", status: "online", lastSeen: "t1" },
      { userId: "b", name: "B", status: "online", lastSeen: "t1" },
    ]);
    m = applyPresence(m, [{ userId: "a", name: "A", status: "away" }, { userId: "b", name: "B", status: "offline", lastSeen: "t2" }]);
    expect([...m.values()]).toEqual([{ userId: "a", name: "A", status: "away", lastSeen: "t1" }]);
  });
});
