import AQCommandLine
import ArrayRelay
import Foundation
import TOMLKit

/// Reads an `aq-relay` configuration file: TOML (https://toml.io), a documented format that
/// people edit by hand, with comments, without the indentation traps of YAML; JSON has none.
/// The parsed document becomes ArrayRelay's neutral ``ConfigTable``, which the settings read.
enum TOMLFile {
    /// Reads and parses `file`.
    static func load(_ file: String) throws(RelayError) -> ConfigTable {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? (FileManager.default.fileExists(atPath: file) ? "it is not readable UTF-8 text" : "no such file")
            throw .configuration("cannot read configuration file \(file): \(reason)")
        }
        do {
            return ConfigTable(file: file, table: entries(try TOMLTable(string: text)))
        } catch let error as TOMLParseError {
            let position = error.source.begin
            throw .configuration("\(file):\(position.line):\(position.column): not valid TOML: \(error.description)")
        } catch {
            throw .configuration("\(file): not valid TOML: \(error)")
        }
    }

    private static func entries(_ table: TOMLTable) -> [String: ConfigValue] {
        var entries: [String: ConfigValue] = [:]
        for key in table.keys { if let value = table[key] { entries[key] = convert(value) } }
        return entries
    }

    private static func convert(_ value: any TOMLValueConvertible) -> ConfigValue {
        if let text = value.string { return .string(text) }
        if let number = value.int { return .integer(number) }
        if let number = value.double { return .float(number) }
        if let flag = value.bool { return .bool(flag) }
        if let array = value.array { return .array(array.map { convert($0) }) }
        if let table = value.table { return .table(entries(table)) }
        return .other(type: "\(value.type)", text: value.debugDescription)
    }
}
