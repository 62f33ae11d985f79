#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure of the file system under the store: disk full, permissions, I/O errors.
public struct TimeSeriesError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the path and the system's reason.
    public let message: String

    public var description: String { message }

    static func system(_ operation: String, _ path: String, errno code: Int32 = errno) -> TimeSeriesError {
        TimeSeriesError(message: "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// Thin, throwing wrappers over POSIX file calls. All calls run on the caller's thread:
/// the store calls them from its writer thread or a reader, never an event loop.
enum FileIO {
    static func openForAppend(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw TimeSeriesError.system("open", path) }
        return descriptor
    }

    static func openForReading(_ path: String) throws -> Int32 {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TimeSeriesError.system("open", path) }
        return descriptor
    }

    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw TimeSeriesError.system("write", path)
            }
            offset += written
        }
    }

    static func syncData(_ descriptor: Int32, path: String) throws {
        #if canImport(Glibc)
            guard fdatasync(descriptor) == 0 else { throw TimeSeriesError.system("fdatasync", path) }
        #else
            guard fsync(descriptor) == 0 else { throw TimeSeriesError.system("fsync", path) }
        #endif
    }

    static func size(_ descriptor: Int32, path: String) throws -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw TimeSeriesError.system("stat", path) }
        return Int(status.st_size)
    }

    static func truncate(_ descriptor: Int32, to size: Int, path: String) throws {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw TimeSeriesError.system("truncate", path) }
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        let descriptor = try openForReading(path)
        defer { Glibc.close(descriptor) }
        let total = try size(descriptor, path: path)
        return try read(descriptor, offset: 0, count: total, path: path)
    }

    static func read(_ descriptor: Int32, offset: Int, count: Int, path: String) throws -> [UInt8] {
        var failure: TimeSeriesError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = TimeSeriesError.system("read", path)
                    break
                }
                if got == 0 { break }
                done += got
            }
            initialized = done
        }
        if let failure { throw failure }
        return bytes
    }

    /// Writes `bytes` to `path` durably: a temporary file, synced, renamed over `path`, and the
    /// directory synced, so that a crash leaves either the old file or the whole new one.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = try writeTemporary(bytes, for: path)
        try rename(temporary, over: path)
    }

    /// Writes `bytes` to a synced temporary file beside `path`, and returns its path.
    static func writeTemporary(_ bytes: [UInt8], for path: String) throws -> String {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw TimeSeriesError.system("create", temporary) }
        do {
            try bytes.withUnsafeBytes { buffer throws in
                try writeAll(descriptor, buffer, path: temporary)
            }
            guard fsync(descriptor) == 0 else { throw TimeSeriesError.system("fsync", temporary) }
        } catch {
            Glibc.close(descriptor)
            unlink(temporary)
            throw error
        }
        Glibc.close(descriptor)
        return temporary
    }

    /// Renames a temporary file over `path` (atomically replacing a file there), then syncs
    /// the directory. A temporary that cannot be renamed is removed.
    static func rename(_ temporary: String, over path: String) throws {
        guard Glibc.rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw TimeSeriesError.system("rename", temporary, errno: code)
        }
        try syncDirectory(parent(of: path))
    }

    static func syncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TimeSeriesError.system("open directory", path) }
        defer { Glibc.close(descriptor) }
        guard fsync(descriptor) == 0 else { throw TimeSeriesError.system("fsync directory", path) }
    }

    static func makeDirectory(_ path: String) throws {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            components.append(component)
            let prefix = components.joined(separator: "/")
            guard !prefix.isEmpty else { continue }
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw TimeSeriesError.system("mkdir", prefix)
            }
        }
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    static func remove(_ path: String) throws {
        guard unlink(path) == 0 || errno == ENOENT else { throw TimeSeriesError.system("unlink", path) }
    }

    static func removeDirectory(_ path: String) throws {
        for name in listDirectory(path) { try remove(path + "/" + name) }
        guard rmdir(path) == 0 || errno == ENOENT else { throw TimeSeriesError.system("rmdir", path) }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The size of the file at `path`; 0 when there is none.
    static func fileSize(_ path: String) -> Int {
        var status = stat()
        return stat(path, &status) == 0 ? Int(status.st_size) : 0
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}
