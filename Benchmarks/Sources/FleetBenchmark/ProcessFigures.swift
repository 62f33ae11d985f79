import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the process costs: CPU time, peak and current memory, open descriptors.
enum ProcessFigures {
    /// User plus system CPU seconds of the whole process.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// CPU seconds of the calling thread.
    static func threadCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// The ids of this process's threads.
    static func threadIDs() -> Set<Int> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []).compactMap { Int($0) })
    }

    /// User plus system CPU seconds of thread `id` of this process (/proc/self/task/ID/stat).
    static func threadCPUSeconds(id: Int) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/self/task/\(id)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return 0 }
        // After the command's closing parenthesis: state (field 3), ..., utime (14), stime (15).
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Peak resident set size in bytes.
    static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// Current resident set size in bytes (`VmRSS` of /proc/self/status).
    static func currentRSS() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            return kilobytes * 1024
        }
        return 0
    }

    /// Descriptors open in this process (entries of /proc/self/fd, less the one listing it).
    static func openDescriptors() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.count ?? 1) - 1
    }

    /// Bytes of all regular files under `directory`, and how many there are.
    static func diskUsage(_ directory: String) -> (bytes: Int, files: Int) {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return (0, 0) }
        var bytes = 0
        var files = 0
        while let path = walker.nextObject() as? String {
            var info = stat()
            guard stat(directory + "/" + path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            bytes += Int(info.st_size)
            files += 1
        }
        return (bytes, files)
    }

    static func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }

    /// Monotonic seconds.
    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }
}
