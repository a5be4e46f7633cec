/** The part of `scs-solver` 1.0 (SCS 3 in WebAssembly, embind) this project uses; the package ships no typings. */
declare module 'scs-solver' {
  type Vector = ArrayLike<number>;
  export interface ScsData {
    m: number;
    n: number;
    A_x: Vector;
    A_i: Vector;
    A_p: Vector;
    P_x?: Vector;
    P_i?: Vector;
    P_p?: Vector;
    b: Vector;
    c: Vector;
  }
  export interface ScsCone {
    z?: number;
    l?: number;
    bu?: Vector;
    bl?: Vector;
    bsize?: number;
  }
  export interface ScsSettings {
    normalize: boolean;
    scale: number;
    adaptiveScale: boolean;
    rhoX: number;
    maxIters: number;
    epsAbs: number;
    epsRel: number;
    epsInfeas: number;
    alpha: number;
    timeLimitSecs: number;
    verbose: number;
    warmStart: boolean;
  }
  export interface ScsSolution {
    x?: number[];
    y?: number[];
    s?: number[];
    info: { iter: number; pobj: number; dobj: number; resPri: number; resDual: number; solveTime: number; setupTime: number };
    /** 'SOLVED', 'SOLVED_INACCURATE', 'INFEASIBLE', 'UNBOUNDED', ... */
    status: string;
  }
  export interface ScsModule {
    ScsSettings: new () => ScsSettings;
    setDefaultSettings(settings: ScsSettings): void;
    solve(data: ScsData, cone: ScsCone, settings: ScsSettings, warm?: { x: Vector; y: Vector; s: Vector }): ScsSolution;
    HEAP8: Int8Array;
  }
  export default function createSCS(): Promise<ScsModule>;
}
