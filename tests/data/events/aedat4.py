"""A minimal AEDAT 4 writer for tests: one uncompressed polarity-event stream, as DV writes it.

Layout (the format the ``aedat`` decoder reads): magic ``#!AER-DAT4.0\\r\\n``; uint32 length + IOHeader
flatbuffer (compression, dataTablePosition = -1, XML description of the streams); then packets of
uint32 stream id, uint32 length, size-prefixed ``EventPacket`` flatbuffer with identifier ``EVTS``.
"""

import struct

import flatbuffers
import numpy as np

DESCRIPTION = (
    '<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
    '<node name="0" path="/mainloop/Recorder/outInfo/0/">'
    '<attr key="compression" type="string">NONE</attr>'
    '<attr key="originalOutputName" type="string">events</attr>'
    '<attr key="typeIdentifier" type="string">EVTS</attr>'
    '<node name="info" path="/mainloop/Recorder/outInfo/0/info/">'
    '<attr key="sizeX" type="int">{w}</attr><attr key="sizeY" type="int">{h}</attr>'
    "</node></node></node></dv>"
)


def _ioheader(w: int, h: int) -> bytes:
    b = flatbuffers.Builder(256)
    desc = b.CreateString(DESCRIPTION.format(w=w, h=h))
    b.StartObject(3)
    b.PrependInt32Slot(0, 0, 0)  # compression NONE
    b.PrependInt64Slot(1, -1, 0)  # no data table (forced: differs from the slot default 0 used here)
    b.PrependUOffsetTRelativeSlot(2, desc, 0)
    b.Finish(b.EndObject())
    return bytes(b.Output())


def _packet(events: np.ndarray) -> bytes:
    b = flatbuffers.Builder(1024)
    b.StartVector(16, len(events), 8)
    for e in events[::-1]:
        b.Prep(8, 16)
        b.Pad(3)
        b.PrependBool(bool(e["p"]))
        b.PrependInt16(int(e["y"]))
        b.PrependInt16(int(e["x"]))
        b.PrependInt64(int(e["t"]))
    vec = b.EndVector()
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, vec, 0)
    b.FinishSizePrefixed(b.EndObject(), file_identifier=b"EVTS")
    return bytes(b.Output())


def write_aedat4(path, events: np.ndarray, w: int = 128, h: int = 128, packet_size: int = 50) -> None:
    header = _ioheader(w, h)
    with open(path, "wb") as fh:
        fh.write(b"#!AER-DAT4.0\r\n")
        fh.write(struct.pack("<I", len(header)) + header)
        for lo in range(0, len(events), packet_size):
            pkt = _packet(events[lo:lo + packet_size])
            fh.write(struct.pack("<II", 0, len(pkt)) + pkt)
