import { TridentError } from "../core/errors.js";

export interface Image {
  width: number;
  height: number;
  /** Grayscale intensities in [0, 1], row-major. */
  gray: Float32Array;
}

/**
 * Decode a non-interlaced 8-bit PNG (grayscale, gray+alpha, RGB, RGBA, palette) to grayscale in [0, 1].
 * Only what `trident predict` needs; malformed files fail with a TridentError.
 */
export async function decodePng(bytes: Uint8Array): Promise<Image> {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (bytes.length < 8 || sig.some((b, i) => bytes[i] !== b)) throw new TridentError("png: not a PNG file (bad signature)");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 0, colorType = 0, interlace = 0;
  let palette: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (pos + 8 <= bytes.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (pos + 12 + len > bytes.length) throw new TridentError(`png: chunk ${type} runs past the end of the file`);
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      if (len < 13) throw new TridentError("png: IHDR too short");
      width = dv.getUint32(pos + 8);
      height = dv.getUint32(pos + 12);
      depth = data[8]!;
      colorType = data[9]!;
      interlace = data[12]!;
    } else if (type === "PLTE") palette = data;
    else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  if (!width || !height) throw new TridentError("png: missing IHDR");
  if (width * height > 1 << 26) throw new TridentError(`png: image ${width}x${height} is too large`);
  if (depth !== 8) throw new TridentError(`png: only 8-bit images are supported (this one has bit depth ${depth})`);
  if (interlace) throw new TridentError("png: interlaced images are not supported");
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType];
  if (!channels) throw new TridentError(`png: unsupported color type ${colorType}`);
  const { inflateSync } = await import("node:zlib");
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (e) {
    throw new TridentError(`png: corrupt image data (${(e as Error).message})`);
  }
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) throw new TridentError("png: image data is shorter than the image");
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = px.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? px.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? row[i - channels]! : 0;
      const b = prev ? prev[i]! : 0;
      const c = prev && i >= channels ? prev[i - channels]! : 0;
      let v = src[i]!;
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (f !== 0) throw new TridentError(`png: unknown filter ${f} on row ${y}`);
      row[i] = v & 255;
    }
  }
  const gray = new Float32Array(width * height);
  for (let i = 0; i < width * height; i++) {
    let r: number, g: number, b: number, alpha = 255;
    if (colorType === 0 || colorType === 4) {
      r = g = b = px[i * channels]!;
      if (colorType === 4) alpha = px[i * channels + 1]!;
    } else if (colorType === 3) {
      const k = px[i]! * 3;
      if (!palette || k + 2 >= palette.length) throw new TridentError("png: palette index out of range");
      [r, g, b] = [palette[k]!, palette[k + 1]!, palette[k + 2]!];
    } else {
      [r, g, b] = [px[i * channels]!, px[i * channels + 1]!, px[i * channels + 2]!];
      if (colorType === 6) alpha = px[i * channels + 3]!;
    }
    // transparent pixels count as background (black, as MNIST digits are white on black)
    gray[i] = ((0.299 * r + 0.587 * g + 0.114 * b) / 255) * (alpha / 255);
  }
  return { width, height, gray };
}
