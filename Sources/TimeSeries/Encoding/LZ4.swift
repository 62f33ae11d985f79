import CLZ4

/// LZ4 block compression (liblz4), the last stage of every segment column.
public enum LZ4 {
    /// Compresses `input` into one LZ4 block.
    /// - Parameter input: The bytes to compress.
    /// - Returns: The compressed block (without the original size; store that beside it).
    public static func compress(_ input: UnsafeRawBufferPointer) -> [UInt8] {
        guard input.count > 0 else { return [] }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        return [UInt8](unsafeUninitializedCapacity: bound) { output, initialized in
            let written = LZ4_compress_default(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                UnsafeMutableRawPointer(output.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(input.count),
                Int32(bound)
            )
            // LZ4_compress_default cannot fail with a destination of LZ4_compressBound bytes.
            precondition(written > 0, "LZ4 compression failed with a bound-sized buffer")
            initialized = Int(written)
        }
    }

    /// Compresses `input` into one LZ4 block.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        input.withUnsafeBytes { compress($0) }
    }

    /// Decompresses one LZ4 block.
    /// - Parameters:
    ///   - input: The compressed block.
    ///   - originalSize: The exact size of the uncompressed data.
    /// - Returns: The uncompressed bytes.
    /// - Throws: ``LZ4Error`` when the block is corrupt or does not decompress to `originalSize` bytes.
    public static func decompress(_ input: UnsafeRawBufferPointer, originalSize: Int) throws(LZ4Error) -> [UInt8] {
        guard originalSize > 0 else {
            guard input.isEmpty else { throw LZ4Error(reason: "a non-empty block for an empty original") }
            return []
        }
        guard !input.isEmpty, originalSize <= Int(Int32.max) else {
            throw LZ4Error(reason: "block of \(input.count) bytes cannot hold \(originalSize) bytes")
        }
        var failure: LZ4Error?
        let output = [UInt8](unsafeUninitializedCapacity: originalSize) { output, initialized in
            let read = LZ4_decompress_safe(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                UnsafeMutableRawPointer(output.baseAddress!).assumingMemoryBound(to: CChar.self),
                Int32(input.count),
                Int32(originalSize)
            )
            if read != originalSize {
                failure = LZ4Error(
                    reason: read < 0
                        ? "corrupt block" : "block decompressed to \(read) bytes, expected \(originalSize)"
                )
                initialized = 0
            } else {
                initialized = originalSize
            }
        }
        if let failure { throw failure }
        return output
    }

    /// Decompresses one LZ4 block.
    /// - Throws: ``LZ4Error`` as ``decompress(_:originalSize:)-(UnsafeRawBufferPointer,_)`` does.
    public static func decompress(_ input: [UInt8], originalSize: Int) throws(LZ4Error) -> [UInt8] {
        try input.withUnsafeBytes { buffer in
            Result { () throws(LZ4Error) in try decompress(buffer, originalSize: originalSize) }
        }.get()
    }
}

/// An LZ4 block that does not decompress.
public struct LZ4Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public let reason: String

    public var description: String { "LZ4: \(reason)" }
}
