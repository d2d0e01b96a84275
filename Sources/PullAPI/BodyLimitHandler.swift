import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Refuses a request body over its limit without reading it. A `Content-Length` over the limit is answered at
/// once, before the router sees the request; a body without one (chunked) is passed on until it passes the limit,
/// then cut there: the router sees the end of a body too large and answers, nothing more is read from the
/// socket, and the connection is closed once the answer is written. Without this, Hummingbird reads (and
/// discards) every remaining byte of a refused body before the connection's next request, so 64 clients each
/// uploading a megabyte kept `serve` reading — and its memory high — long after every one was answered.
final class BodyLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What a path accepts and how a larger body is answered.
    struct Rule: Sendable {
        let limit: Int
        let status: HTTPResponse.Status
        let body: String
    }

    let rule: @Sendable (_ path: String) -> Rule
    /// Told about every request refused here (from its `Content-Length`), with its path.
    let refused: @Sendable (_ path: String) -> Void

    private enum State {
        case idle
        case passing(received: Int, limit: Int)
        /// Nothing more is read or passed on; the connection closes.
        case discarding
    }

    private var state = State.idle
    /// Requests passed on whose answer is not completely written yet.
    private var inFlight = 0
    private var closeWhenAnswered = false
    /// Our own answer, written once the answers in flight before it are.
    private var pendingRefusal: Rule?

    init(rule: @escaping @Sendable (_ path: String) -> Rule, refused: @escaping @Sendable (_ path: String) -> Void) {
        self.rule = rule
        self.refused = refused
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (part, state) {
        case (_, .discarding):
            return
        case (.head(let head), _):
            let path = String((head.path ?? "/").prefix { $0 != "?" })
            let rule = rule(path)
            if let length = head.headerFields[.contentLength].flatMap({ Int($0) }), length > rule.limit {
                state = .discarding
                refused(path)
                if inFlight == 0 { answer(context, rule) } else { pendingRefusal = rule }
                return
            }
            state = .passing(received: 0, limit: rule.limit)
            inFlight += 1
            context.fireChannelRead(data)
        case (.body(let buffer), .passing(let received, let limit)):
            let total = received + buffer.readableBytes
            context.fireChannelRead(data)
            guard total > limit else {
                state = .passing(received: total, limit: limit)
                return
            }
            // The router now holds more than the limit and answers that; the body ends here for it.
            state = .discarding
            closeWhenAnswered = true
            context.fireChannelRead(wrapInboundOut(.end(nil)))
        case (.end, _):
            state = .idle
            context.fireChannelRead(data)
        default:
            context.fireChannelRead(data)
        }
    }

    /// No more reads from the socket once a body is being refused: the rest is never read.
    func read(context: ChannelHandlerContext) {
        if case .discarding = state { return }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        inFlight = max(0, inFlight - 1)
        guard inFlight == 0 else { return context.write(data, promise: promise) }
        if closeWhenAnswered {
            let channel = context.channel
            let written = context.writeAndFlush(data)
            written.cascade(to: promise)
            written.whenComplete { _ in channel.close(promise: nil) }
        } else if let rule = pendingRefusal {
            pendingRefusal = nil
            context.write(data, promise: promise)
            answer(context, rule)
        } else {
            context.write(data, promise: promise)
        }
    }

    /// Writes the refusal and closes the connection once it is sent.
    private func answer(_ context: ChannelHandlerContext, _ rule: Rule) {
        var head = HTTPResponse(status: rule.status)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(rule.body.utf8.count)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(string: rule.body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
