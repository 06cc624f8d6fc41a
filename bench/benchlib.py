"""benchlib.py - what the bench scripts' embedded Python clients share.

bench/proxy.sh and bench/soak.sh put bench/ on PYTHONPATH."""


def proc_status(pid, key):
    """A field of /proc/PID/status in kB (VmRSS, RssAnon, VmHWM, ...), or
    None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def wait_or_cancel(tasks, timeout):
    """Waits up to timeout seconds for the asyncio tasks, cancels those
    still running and returns how many they were."""
    import asyncio
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    return len(pending)
