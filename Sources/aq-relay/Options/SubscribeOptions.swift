import AQCommandLine
import ArgumentParser
import ArrayQueues
import ArrayRelay
import ArrayTransport
import Logging

/// `aq-relay subscribe`'s own options; each overrides the `[subscribe]` table of the file.
struct SubscribeOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Relays to receive from (tcp://HOST:PORT or ipc:///PATH). Replaces the file's endpoints.", valueName: "endpoint"))
    var endpoints: [String] = []

    @Flag(help: "Bind the endpoints instead of connecting to them (when the relays connect).")
    var bind = false

    @Option(name: .customLong("queue"), help: ArgumentHelp("The local queue to write into (created if missing).", valueName: "name"))
    var queue: String?

    @Option(name: .customLong("stream"), help: ArgumentHelp("pubsub: receive only streams whose name starts with this; repeat for several. (default: every stream)", valueName: "prefix"))
    var streams: [String] = []

    @Option(help: ArgumentHelp("pubsub or pushpull; must match the relay's. (default: pubsub)", valueName: "pattern"))
    var pattern: StreamPattern?

    @Option(help: ArgumentHelp("Capacity of the local queue if it has to be created. (default: 256MiB)", valueName: "size"))
    var capacity: ByteSize?

    @Option(help: ArgumentHelp("When the local queue is full: block (wait up to --put-timeout, then drop the frame), fail (drop the new frame at once) or drop-oldest. (default: block)", valueName: "policy"))
    var overflow: OverflowPolicy?

    @Option(help: ArgumentHelp("block: seconds to wait for room in the local queue, or 'forever'. (default: forever with pushpull, 1 with pubsub)", valueName: "seconds"))
    var putTimeout: TimeLimit?

    @Flag(help: "Write every message as an envelope that keeps its stream name, epoch and sequence number (read the queue with ArrayTransport's shm:// receiver or `aq recv shm://NAME`), so that several streams in one queue stay apart. (default: a message of one array under the default name 'array' without metadata becomes a plain record that any queue consumer reads; other messages are envelopes, so that names and metadata survive)")
    var envelopes = false

    @Flag(help: "Receive with libzmq's zero-copy: a copy less per frame (large messages arrive faster), but a relay's small frames can then hold libzmq's read buffers, many times what they carry. Only for relays you trust. (default: frames are copied)")
    var zeroCopyReceive = false

    @Option(help: ArgumentHelp("Frames ZeroMQ may buffer on arrival (ZMQ_RCVHWM). (default: 8)", valueName: "frames"))
    var receiveQueue: Int?

    @Option(help: ArgumentHelp("Largest message accepted; larger ones make ZeroMQ drop the connection. (default: 1GiB)", valueName: "size"))
    var maxMessageSize: ByteSize?

    @Option(help: ArgumentHelp("The relay's heartbeat interval in seconds, more than 0: after 3 silent intervals the relay counts as silent. (default: 1)", valueName: "seconds"))
    var heartbeat: Seconds?

    @Option(help: ArgumentHelp("Encrypt with CURVE as a client of the relay with this Z85 public key (40 characters).", valueName: "key"))
    var curveServerKey: String?

    @Option(help: ArgumentHelp("With --curve-server-key: a file holding this subscriber's secret key, readable by its owner only (chmod 600); needed when the relay has an allow-list. (default: a new key for each run)", valueName: "file"))
    var curveSecretKeyFile: String?

    @Option(help: ArgumentHelp("With --bind: most connections each endpoint keeps at once; beyond it the newest are shut down, so that peers already connected stay served. 0: no limit. (default: 256)", valueName: "count"))
    var maxConnections: Int?

    /// What these options override.
    var overrides: SubscribeOverrides {
        var overrides = SubscribeOverrides()
        overrides.endpoints = endpoints
        overrides.bind = bind
        overrides.queue = queue
        overrides.streams = streams
        overrides.pattern = pattern
        overrides.capacity = capacity?.bytes
        overrides.overflow = overflow
        overrides.putTimeout = putTimeout
        overrides.envelopes = envelopes
        overrides.zeroCopyReceive = zeroCopyReceive
        overrides.receiveQueue = receiveQueue
        overrides.maxMessageSize = maxMessageSize?.bytes
        overrides.heartbeat = heartbeat?.duration
        overrides.curveServerKey = curveServerKey
        overrides.curveSecretKeyFile = curveSecretKeyFile
        overrides.maxConnections = maxConnections
        return overrides
    }
}

extension SubscribeSettings {
    /// The settings the options and their configuration file describe.
    static func resolve(common: CommonOptions, subscribe: SubscribeOptions) throws(RelayError) -> SubscribeSettings {
        try resolve(document: try common.document(), common: common.overrides, subscribe: subscribe.overrides)
    }
}
