// Appends numbered batches to a time-series store with `always` sync and prints
// "ack N" after each append returns, for the crash test that kills it with SIGKILL.
// Usage: TimeSeriesCrashWriter DIRECTORY FIRST_BATCH
import TimeSeries

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
/// Writes a line straight to a file descriptor: unbuffered, so an acknowledgement printed is
/// an acknowledgement the parent reads even if the process is killed right after.
func say(_ line: String, to descriptor: Int32 = 1) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
}

guard arguments.count == 3, let first = Int(arguments[2]) else {
    say("usage: TimeSeriesCrashWriter DIRECTORY FIRST_BATCH", to: 2)
    exit(2)
}
do {
    // Small memtables and blocks, so that kills also land in flushes and WAL rotations.
    let store = try TimeSeriesStore(
        directory: arguments[1],
        options: TimeSeriesOptions(syncPolicy: .always, memtableRows: 700, blockRows: 64)
    )
    var batch = first
    while true {
        try store.appendBlocking(CrashBatch.rows(batch))
        say("ack \(batch)")
        batch += 1
    }
} catch {
    say("error: \(error)", to: 2)
    exit(1)
}
