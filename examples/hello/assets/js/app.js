// examples/hello's browser code: esbuild bundles it (with what it imports) into
// priv/static/assets/app.js, and kiln-digest fingerprints it (cmake/KilnAssets.cmake).
import { dismissableFlash } from "./flash.js";

dismissableFlash(document);
