import ArrayQueues
import ArrayTransport
import Foundation
import TOMLKit

/// One table of a TOML configuration file, read key by key with typed accessors. Every
/// problem is one line naming the file, the table and the key; keys that nothing read are
/// reported by ``finish()`` (a misspelt key must not be silently ignored).
///
/// Why TOML: it is a documented, widely known format (https://toml.io) that people edit by
/// hand, with comments, without the indentation traps of YAML; JSON has no comments.
final class ConfigTable {
    let file: String
    /// `serve`, `serve.queue[2]`, or "" for the top level.
    let path: String
    private let table: TOMLTable
    private var read: Set<String> = []

    private init(file: String, path: String, table: TOMLTable) {
        self.file = file
        self.path = path
        self.table = table
    }

    /// Reads and parses `file`.
    static func load(file: String) throws(RelayError) -> ConfigTable {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? (FileManager.default.fileExists(atPath: file) ? "it is not readable UTF-8 text" : "no such file")
            throw .configuration("cannot read configuration file \(file): \(reason)")
        }
        do {
            return ConfigTable(file: file, path: "", table: try TOMLTable(string: text))
        } catch let error as TOMLParseError {
            let position = error.source.begin
            throw .configuration("\(file):\(position.line):\(position.column): not valid TOML: \(error.description)")
        } catch {
            throw .configuration("\(file): not valid TOML: \(error)")
        }
    }

    private var location: String { path.isEmpty ? file : "\(file) [\(path)]" }

    /// An error about `key` of this table.
    func problem(_ key: String, _ message: String) -> RelayError {
        .configuration("\(location) \(key): \(message)")
    }

    /// Whether the table has `key` (without marking it read).
    func has(_ key: String) -> Bool { table.contains(key: key) }

    private func value(_ key: String) -> (any TOMLValueConvertible)? {
        read.insert(key)
        return table[key]
    }

    private func mismatch(_ key: String, expected: String, got value: any TOMLValueConvertible) -> RelayError {
        problem(key, "expected \(expected), not a \(value.type) (\(value.debugDescription.prefix(60)))")
    }

    func string(_ key: String) throws(RelayError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.string else { throw mismatch(key, expected: "a string", got: value) }
        return text
    }

    func bool(_ key: String) throws(RelayError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard let flag = value.bool else { throw mismatch(key, expected: "true or false", got: value) }
        return flag
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(RelayError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.int else { throw mismatch(key, expected: "an integer", got: value) }
        guard range.contains(number) else { throw problem(key, "\(number) is out of range \(range.lowerBound)…\(range.upperBound)") }
        return number
    }

    /// A size: a string with a unit (`"256MiB"`) or an integer number of bytes.
    func size(_ key: String) throws(RelayError) -> Int? {
        guard let value = value(key) else { return nil }
        if let number = value.int, number > 0 { return number }
        if let text = value.string, let size = ByteSize(argument: text) { return size.bytes }
        throw problem(key, "expected a positive size such as \"256MiB\", \"1.5GB\" or 4096, not \(value.debugDescription.prefix(60))")
    }

    /// Seconds: an integer or a floating-point number, at least 0.
    func seconds(_ key: String) throws(RelayError) -> Duration? {
        guard let value = value(key) else { return nil }
        guard let number = value.double ?? value.int.map(Double.init), let seconds = Seconds(number) else {
            throw problem(key, "expected a number of seconds (0 or more), not \(value.debugDescription.prefix(60))")
        }
        return seconds.duration
    }

    /// A time limit: seconds, or the string `"forever"`.
    func timeLimit(_ key: String) throws(RelayError) -> TimeLimit? {
        if let value = table[key], value.string == "forever" {
            read.insert(key)
            return TimeLimit(nil)
        }
        guard let seconds = try seconds(key) else { return nil }
        return TimeLimit(seconds)
    }

    /// A list of strings; a single string counts as a list of one.
    func strings(_ key: String) throws(RelayError) -> [String]? {
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

    func endpoints(_ key: String) throws(RelayError) -> [Endpoint]? {
        guard let texts = try strings(key) else { return nil }
        var endpoints: [Endpoint] = []
        for text in texts { endpoints.append(try Values.endpoint(text, what: "\(location) \(key)")) }
        return endpoints
    }

    /// A sub-table (`[serve]`).
    func table(_ key: String) throws(RelayError) -> ConfigTable? {
        guard let value = value(key) else { return nil }
        guard let table = value.table else { throw mismatch(key, expected: "a table ([\(key)])", got: value) }
        return ConfigTable(file: file, path: path.isEmpty ? key : "\(path).\(key)", table: table)
    }

    /// An array of tables (`[[serve.queue]]`).
    func tables(_ key: String) throws(RelayError) -> [ConfigTable]? {
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
    func allow(_ keys: String...) {
        read.formUnion(keys)
    }

    /// Fails on the first key that was never read: it is misspelt or misplaced.
    func finish() throws(RelayError) {
        if let unknown = table.keys.sorted().first(where: { !read.contains($0) }) {
            let known = read.sorted().joined(separator: ", ")
            throw .configuration("\(location): unknown key '\(unknown)' (known here: \(known))")
        }
    }
}
