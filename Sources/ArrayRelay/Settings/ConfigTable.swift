public import ArrayTransport
import ArrayQueues

/// A value of a configuration file, independent of the file's syntax: the executable parses
/// TOML into this tree, and ``ConfigTable`` reads it with typed accessors.
public enum ConfigValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case bool(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])
    /// A value the settings never take (a date, a time), kept for the error message.
    case other(type: String, text: String)

    var string: String? { if case .string(let text) = self { text } else { nil } }
    var int: Int? { if case .integer(let number) = self { number } else { nil } }
    var double: Double? { if case .float(let number) = self { number } else { nil } }
    var bool: Bool? { if case .bool(let flag) = self { flag } else { nil } }
    var array: [ConfigValue]? { if case .array(let items) = self { items } else { nil } }
    var table: [String: ConfigValue]? { if case .table(let entries) = self { entries } else { nil } }

    /// The value's kind, as the file's format calls it.
    var type: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .bool: "boolean"
        case .array: "array"
        case .table: "table"
        case .other(let type, _): type
        }
    }

    /// A short rendering for error messages.
    var debugDescription: String {
        switch self {
        case .string(let text): quoted(text)
        case .integer(let number): "\(number)"
        case .float(let number): "\(number)"
        case .bool(let flag): "\(flag)"
        case .array(let items): "[" + items.map(\.debugDescription).joined(separator: ", ") + "]"
        case .table(let entries): "{" + entries.keys.sorted().joined(separator: ", ") + "}"
        case .other(_, let text): text
        }
    }
}

/// One table of a configuration file, read key by key with typed accessors. Every
/// problem is one line naming the file, the table and the key; keys that nothing read are
/// reported by ``finish()`` (a misspelt key must not be silently ignored).
public final class ConfigTable {
    /// The file the table came from (for messages).
    public let file: String
    /// `serve`, `serve.queue[2]`, or "" for the top level.
    public let path: String
    private let table: [String: ConfigValue]
    private var read: Set<String> = []

    /// The top-level table of `file`, whose content is `table`.
    public init(file: String, path: String = "", table: [String: ConfigValue]) {
        self.file = file
        self.path = path
        self.table = table
    }

    private var location: String { path.isEmpty ? file : "\(file) [\(path)]" }

    /// An error about `key` of this table.
    public func problem(_ key: String, _ message: String) -> RelayError {
        .configuration("\(location) \(key): \(message)")
    }

    /// Whether the table has `key` (without marking it read).
    public func has(_ key: String) -> Bool { table[key] != nil }

    private func value(_ key: String) -> ConfigValue? {
        read.insert(key)
        return table[key]
    }

    private func mismatch(_ key: String, expected: String, got value: ConfigValue) -> RelayError {
        problem(key, "expected \(expected), not a \(value.type) (\(value.debugDescription.prefix(60)))")
    }

    /// The string at `key`, or nil if the table has none.
    public func string(_ key: String) throws(RelayError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.string else { throw mismatch(key, expected: "a string", got: value) }
        return text
    }

    /// The boolean at `key`, or nil.
    public func bool(_ key: String) throws(RelayError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value.bool else { throw mismatch(key, expected: "true or false", got: value) }
        return flag
    }

    /// The integer at `key` within `range`, or nil.
    public func integer(_ key: String, in range: ClosedRange<Int>) throws(RelayError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.int else { throw mismatch(key, expected: "an integer", got: value) }
        guard range.contains(number) else { throw problem(key, "\(number) is out of range \(range.lowerBound)…\(range.upperBound)") }
        return number
    }

    /// A size: a string with a unit (`"256MiB"`) or an integer number of bytes.
    public func size(_ key: String) throws(RelayError) -> Int? {
        guard let value = value(key) else { return nil }
        if let number = value.int, number > 0 { return number }
        if let text = value.string, let size = ByteSize(argument: text) { return size.bytes }
        throw problem(key, "expected a positive size such as \"256MiB\", \"1.5GB\" or 4096, not \(value.debugDescription.prefix(60))")
    }

    /// Seconds: an integer or a floating-point number, at least 0.
    public func seconds(_ key: String) throws(RelayError) -> Duration? {
        guard let value = value(key) else { return nil }
        guard let number = value.double ?? value.int.map(Double.init), let seconds = Seconds(number) else {
            throw problem(key, "expected a number of seconds (0 or more), not \(value.debugDescription.prefix(60))")
        }
        return seconds.duration
    }

    /// A time limit: seconds, or the string `"forever"`.
    public func timeLimit(_ key: String) throws(RelayError) -> TimeLimit? {
        if let value = table[key], value.string == "forever" {
            read.insert(key)
            return TimeLimit(nil)
        }
        guard let seconds = try seconds(key) else { return nil }
        return TimeLimit(seconds)
    }

    /// A list of strings; a single string counts as a list of one.
    public func strings(_ key: String) throws(RelayError) -> [String]? {
        guard let value = value(key) else { return nil }
        if let text = value.string { return [text] }
        guard let array = value.array else { throw mismatch(key, expected: "a string or a list of strings", got: value) }
        var strings: [String] = []
        for element in array {
            guard let text = element.string else { throw mismatch(key, expected: "a list of strings", got: element) }
            strings.append(text)
        }
        return strings
    }

    /// The endpoints at `key` (a string or a list), or nil.
    public func endpoints(_ key: String) throws(RelayError) -> [Endpoint]? {
        guard let texts = try strings(key) else { return nil }
        var endpoints: [Endpoint] = []
        for text in texts { endpoints.append(try Values.endpoint(text, what: "\(location) \(key)")) }
        return endpoints
    }

    /// A sub-table (`[serve]`).
    public func table(_ key: String) throws(RelayError) -> ConfigTable? {
        guard let value = value(key) else { return nil }
        guard let table = value.table else { throw mismatch(key, expected: "a table ([\(key)])", got: value) }
        return ConfigTable(file: file, path: path.isEmpty ? key : "\(path).\(key)", table: table)
    }

    /// An array of tables (`[[serve.queue]]`).
    public func tables(_ key: String) throws(RelayError) -> [ConfigTable]? {
        guard let value = value(key) else { return nil }
        guard let array = value.array else { throw mismatch(key, expected: "an array of tables ([[\(path).\(key)]])", got: value) }
        var tables: [ConfigTable] = []
        for (position, element) in array.enumerated() {
            guard let table = element.table else { throw mismatch(key, expected: "tables only", got: element) }
            tables.append(ConfigTable(file: file, path: "\(path.isEmpty ? "" : path + ".")\(key)[\(position + 1)]", table: table))
        }
        return tables
    }

    /// Marks `keys` as known without reading them (sections another command reads).
    public func allow(_ keys: String...) {
        read.formUnion(keys)
    }

    /// Fails on the first key that was never read: it is misspelt or misplaced.
    public func finish() throws(RelayError) {
        if let unknown = table.keys.sorted().first(where: { !read.contains($0) }) {
            let known = read.sorted().joined(separator: ", ")
            throw .configuration("\(location): unknown key '\(unknown)' (known here: \(known))")
        }
    }
}
