// The seed's NotificationService, written against Herald's server API:
// the backend no longer holds a Socket.IO server, it asks Herald over
// HTTP (fetch), and Herald delivers across its cluster.

/** An error answered by the API: a stable code, and a message for people. */
export class HeraldError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HeraldError";
  }
}

export interface Order {
  id: string;
  customerId: string;
  customerName: string;
  status: string;
  total: number;
}

/** Who gets an event: exactly one way. */
export type Target =
  | { userId: string }
  | { userIds: string[] }
  | { room: string }
  | { rooms: string[] }
  | { role: string }
  | { socketId: string }
  | { all: true };

export interface EmitOptions {
  namespace?: string; // "/" by default; chat rooms live in "/chat"
  except?: string[]; // rooms left out
  volatile?: boolean;
}

export interface AckResult {
  acks: unknown[][]; // each answering client's ack arguments
  timedOut: boolean;
}

export class HeraldClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  /** request calls the API and returns its JSON answer, or throws HeraldError. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json().catch(() => null)) as any;
    if (!res.ok) {
      throw new HeraldError(res.status, json?.error?.code ?? "unknown", json?.error?.message ?? res.statusText);
    }
    return json as T;
  }

  /** emit sends event with data (one argument) to target. */
  async emit(target: Target, event: string, data?: unknown, opts: EmitOptions = {}): Promise<void> {
    await this.request("POST", "/api/v1/emit", { ...target, event, ...(data === undefined ? {} : { data }), ...opts });
  }

  /** emitWithAck waits up to timeoutMs for the reached clients' acks. */
  emitWithAck(target: Target, event: string, data: unknown, timeoutMs: number, opts: EmitOptions = {}): Promise<AckResult> {
    return this.request("POST", "/api/v1/emit", { ...target, event, data, ack: { timeoutMs }, ...opts });
  }
}

export class NotificationService {
  constructor(private readonly herald: HeraldClient) {}

  // Send to specific user
  sendToUser(userId: string, event: string, data: unknown) {
    return this.herald.emit({ userId }, event, data);
  }

  // Send to multiple users: one request, whatever their number (up to 1000)
  sendToUsers(userIds: string[], event: string, data: unknown) {
    return this.herald.emit({ userIds }, event, data);
  }

  // Broadcast to all connected users
  broadcast(event: string, data: unknown) {
    return this.herald.emit({ all: true }, event, data);
  }

  // Send to room: the chat room's members who joined it, in /chat
  sendToRoom(roomId: string, event: string, data: unknown) {
    return this.herald.emit({ room: `room:${roomId}` }, event, data, { namespace: "/chat" });
  }

  // Notify new order
  async notifyNewOrder(order: Order) {
    // Notify customer
    await this.sendToUser(order.customerId, "order:created", {
      orderId: order.id,
      status: order.status,
    });

    // Notify admins
    await this.herald.emit({ role: "admin" }, "admin:new-order", {
      orderId: order.id,
      customer: order.customerName,
      total: order.total,
    });
  }
}
