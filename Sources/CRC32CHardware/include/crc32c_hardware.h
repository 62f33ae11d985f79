#ifndef CRC32C_HARDWARE_H
#define CRC32C_HARDWARE_H

#include <stddef.h>
#include <stdint.h>

/// Whether this processor computes CRC-32C in hardware (x86-64 SSE 4.2, AArch64 CRC).
int crc32c_hardware_available(void);

/// Continues the CRC-32C register `crc` (already inverted by the caller) over `count` bytes
/// at `bytes`, with the processor's CRC-32C instructions. Call it only when
/// crc32c_hardware_available() answers non-zero.
uint32_t crc32c_hardware_update(uint32_t crc, const uint8_t *bytes, size_t count);

#endif
