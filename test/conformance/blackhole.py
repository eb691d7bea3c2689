# A loopback TCP port that never answers a SYN: a listener with backlog 0 that never accepts, its
# accept queue filled by our own connections, so Linux drops further SYNs (tcp_abort_on_overflow=0).
# Prints the port, then holds it until stdin closes.
import socket
import sys

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(0)
fillers = []
for _ in range(3):
    filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    filler.setblocking(False)
    try:
        filler.connect(listener.getsockname())
    except BlockingIOError:
        pass
    fillers.append(filler)
print(listener.getsockname()[1], flush=True)
sys.stdin.read()
