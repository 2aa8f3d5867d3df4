/// Byte sizes as people write them: `64MiB`, `1.5GB`, `4096`.
public enum ByteCount {
    /// Parses a size with an optional unit: B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB
    /// (powers of 1024), or K/M/G/T (taken as powers of 1024). Case-insensitive.
    public static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingPrefix(while: { $0 == " " })
        let number = trimmed.prefix(while: { $0.isNumber || $0 == "." })
        let unit = trimmed.dropFirst(number.count).filter { $0 != " " }.lowercased()
        let multipliers: [String: Double] = [
            "": 1, "b": 1,
            "k": 0x1p10, "kib": 0x1p10, "kb": 1e3,
            "m": 0x1p20, "mib": 0x1p20, "mb": 1e6,
            "g": 0x1p30, "gib": 0x1p30, "gb": 1e9,
            "t": 0x1p40, "tib": 0x1p40, "tb": 1e12,
        ]
        guard let value = Double(number), let multiplier = multipliers[unit] else { return nil }
        let bytes = (value * multiplier).rounded()
        guard bytes.isFinite, bytes >= 0, bytes < 0x1p62 else { return nil }
        return Int(bytes)
    }

    /// `8 MiB`, `1.5 GiB`, `512 B`: binary units, at most one decimal.
    public static func format(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 || value == value.rounded() { return "\(Int(value)) \(units[unit])" }
        return "\((value * 10).rounded() / 10) \(units[unit])"
    }
}
