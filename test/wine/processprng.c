/*
 * bcryptprimitives.dll for Wine 8, which lacks it.
 *
 * Go 1.22 and later draw their random numbers from ProcessPrng in
 * bcryptprimitives.dll, which Windows 10 and later ship; a Go program for
 * Windows stops at start-up where the DLL is missing. This one exports
 * ProcessPrng and fills the buffer from RtlGenRandom (SystemFunction036 in
 * advapi32), which Wine has. test/wine/run builds it and copies it into the
 * Wine prefix; it is never used on real Windows.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	/* RtlGenRandom takes a ULONG length: feed it at most 1 GiB at a time. */
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
