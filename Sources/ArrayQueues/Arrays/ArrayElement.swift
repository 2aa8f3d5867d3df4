public import ComplexModule
public import RealModule

/// A Swift type that can be the element of an ``NDArray``: plain bits with a numpy dtype.
///
/// Elements are copied as raw bytes, so conforming types must be trivial (no references);
/// every conformance ArrayQueues provides is.
public protocol ArrayElement: Sendable, Equatable {
    /// The dtype this Swift type is stored as.
    static var dtype: DType { get }
}

extension Bool: ArrayElement { public static var dtype: DType { .bool } }
extension Int8: ArrayElement { public static var dtype: DType { .int8 } }
extension UInt8: ArrayElement { public static var dtype: DType { .uint8 } }
extension Int16: ArrayElement { public static var dtype: DType { .int16 } }
extension UInt16: ArrayElement { public static var dtype: DType { .uint16 } }
extension Int32: ArrayElement { public static var dtype: DType { .int32 } }
extension UInt32: ArrayElement { public static var dtype: DType { .uint32 } }
extension Int64: ArrayElement { public static var dtype: DType { .int64 } }
extension UInt64: ArrayElement { public static var dtype: DType { .uint64 } }
#if arch(x86_64) || arch(arm64) || arch(aarch64)
// `Int` and `UInt` are 64 bits wide on every platform ArrayQueues supports.
extension Int: ArrayElement { public static var dtype: DType { .int64 } }
extension UInt: ArrayElement { public static var dtype: DType { .uint64 } }
#endif
extension Float16: ArrayElement { public static var dtype: DType { .float16 } }
extension Float: ArrayElement { public static var dtype: DType { .float32 } }
extension Double: ArrayElement { public static var dtype: DType { .float64 } }

/// A real type whose `Complex` is an ``ArrayElement``: `Float` (complex64) and `Double` (complex128).
public protocol ComplexArrayComponent: Real, ArrayElement {
    /// The dtype of `Complex<Self>`.
    static var complexDType: DType { get }
}

extension Float: ComplexArrayComponent { public static var complexDType: DType { .complex64 } }
extension Double: ComplexArrayComponent { public static var complexDType: DType { .complex128 } }

/// `Complex<Float>` is laid out as numpy's `complex64` and `Complex<Double>` as `complex128`:
/// real part, then imaginary part.
extension Complex: ArrayElement where RealType: ComplexArrayComponent {
    public static var dtype: DType { RealType.complexDType }
}
