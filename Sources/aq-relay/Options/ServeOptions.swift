import AQCommandLine
import ArgumentParser
import ArrayQueues
import ArrayRelay
import ArrayTransport
import Logging

/// `aq-relay serve`'s own options; each overrides the `[serve]` table of the configuration file.
struct ServeOptions: ParsableArguments {
    @Option(name: .customLong("queue"), help: ArgumentHelp("Relay local queue NAME as stream NAME on ENDPOINT (tcp://HOST:PORT or ipc:///PATH); repeat for several queues. Replaces the file's queues.", valueName: "name=endpoint"))
    var queues: [String] = []

    @Flag(help: "Connect to the --queue endpoints instead of binding them (when the receivers bind).")
    var connect = false

    @Option(help: ArgumentHelp("pubsub: every subscriber gets every frame, a slow one loses frames and nobody waits; pushpull: each frame to one puller, with backpressure. (default: pubsub)", valueName: "pattern"))
    var pattern: StreamPattern?

    @Option(help: ArgumentHelp("Most payload bytes ZeroMQ may hold per stream and connected peer (the relay's memory bound); over it a publisher drops frames. (default: 256MiB)", valueName: "size"))
    var byteBudget: ByteSize?

    @Option(help: ArgumentHelp("Frames queued per subscriber (ZMQ_SNDHWM) before that subscriber loses frames. (default: 8)", valueName: "frames"))
    var peerQueue: Int?

    @Option(help: ArgumentHelp("pushpull: seconds to wait for a puller before the frame is dropped, or 'forever' to hold the producer back. (default: forever)", valueName: "seconds"))
    var sendTimeout: TimeLimit?

    @Option(help: ArgumentHelp("Seconds of idleness before a heartbeat; 0 sends none. (default: 1)", valueName: "seconds"))
    var heartbeat: Seconds?

    @Option(help: ArgumentHelp("Seconds allowed at shutdown to deliver queued frames and the end message. (default: 2)", valueName: "seconds"))
    var linger: Seconds?

    @Flag(inversion: .prefixedNo, help: "Send frames straight from the queue's shared memory, holding each slot until ZeroMQ has sent it, instead of copying it once and freeing the slot at once. (default: on for pushpull, whose backpressure reaches the producer anyway; off for pubsub, where a stalled subscriber would pin slots)")
    var zeroCopy: Bool?

    @Option(help: ArgumentHelp("Create missing queues with this capacity instead of waiting for their producer to create them.", valueName: "size"))
    var createCapacity: ByteSize?

    @Option(help: ArgumentHelp("Encrypt with CURVE as a server: a file holding this relay's Z85 secret key (40 characters), readable by its owner only (chmod 600).", valueName: "file"))
    var curveSecretKeyFile: String?

    @Option(help: ArgumentHelp("With --curve-secret-key-file: accept only the CURVE clients whose public keys are in this file, or in the files of this directory (one key per line; reloaded on SIGHUP). (default: any client that knows the relay's public key)", valueName: "path"))
    var curveAllowedClients: String?

    @Option(help: ArgumentHelp("Broadcast queues: relay as a lossless subscriber that producers wait for (block), or as a live one that is skipped ahead when the network falls behind (drop). (default: block)", valueName: "block|drop"))
    var subscriberPolicy: String?

    @Option(help: ArgumentHelp("Most connections each bound endpoint keeps at once; beyond it the newest are shut down, so that peers already connected stay served. 0: no limit. (default: 256)", valueName: "count"))
    var maxConnections: Int?

    /// What these options override.
    var overrides: ServeOverrides {
        var overrides = ServeOverrides()
        overrides.queues = queues
        overrides.connect = connect
        overrides.pattern = pattern
        overrides.byteBudget = byteBudget?.bytes
        overrides.peerQueue = peerQueue
        overrides.sendTimeout = sendTimeout
        overrides.heartbeat = heartbeat?.duration
        overrides.linger = linger?.duration
        overrides.zeroCopy = zeroCopy
        overrides.createCapacity = createCapacity?.bytes
        overrides.curveSecretKeyFile = curveSecretKeyFile
        overrides.curveAllowedClients = curveAllowedClients
        overrides.subscriberPolicy = subscriberPolicy
        overrides.maxConnections = maxConnections
        return overrides
    }
}

extension ServeSettings {
    /// The settings the options and their configuration file describe.
    static func resolve(common: CommonOptions, serve: ServeOptions) throws(RelayError) -> ServeSettings {
        try resolve(document: try common.document(), common: common.overrides, serve: serve.overrides)
    }
}
