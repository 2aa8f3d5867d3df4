import AQCommandLine
import ArrayRelay
import ArgumentParser

/// `aq`: create, fill, drain and inspect ArrayQueues shared-memory queues from a shell.
@main
struct AQ: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aq",
        abstract: "Shared-memory queues of N-dimensional arrays.",
        discussion: """
            Examples:
              aq demo                                  stream 2048×2048 frames between two processes
              aq create camera0 --capacity 256MiB      make a queue
              aq put camera0 frame.npy --repeat 10     put an array (numpy .npy file) ten times
              aq get camera0 --out-dir frames/ --count 10
              aq ls                                    list queues and who uses them
              aq gc                                    remove queues no live process uses
              aq send tcp://*:5555 frame.npy --repeat 10   serve arrays over the network
              aq recv tcp://127.0.0.1:5555 --count 10      receive them (also shm://QUEUE, ipc:///PATH)
              aq metrics --listen 127.0.0.1:9465       every queue's counters for Prometheus (HTTP /metrics)
            """,
        version: arrayQueuesVersion,
        subcommands: [Demo.self, Create.self, Put.self, Get.self, List.self, Inspect.self, Remove.self, GarbageCollect.self, Send.self, Receive.self, Metrics.self, DemoWorker.self]
    )
}
