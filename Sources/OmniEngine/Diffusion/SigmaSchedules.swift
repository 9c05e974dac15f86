/// The custom sigma lists pipelines hand to their scheduler, computed as the reference pipelines
/// compute them, so that the schedules match to the bit.
public enum SigmaSchedules {
    /// Z-Image's `get_default_z_image_sigmas(n)`: `torch.linspace(1.0, 1 / n, n).tolist()`, float32
    /// values returned as the Python floats the pipeline passes on.
    public static func zImageDefault(steps: Int) -> [Double] {
        torchLinspace(1, Float(1 / Double(steps)), count: steps).map(Double.init)
    }

    /// Flux's `np.linspace(1.0, 1 / n, n)` (float64).
    public static func flux(steps: Int) -> [Double] {
        FlowMatchEulerDiscreteScheduler.numpyLinspace(1, 1 / Double(steps), count: steps)
    }

    /// torch's float32 `linspace` on CPU (RangeFactoriesKernel.cpp): step = (end - start) / (n - 1);
    /// the first half counts up from `start`, the second half down from `end`, each value one fused
    /// multiply-add, as GCC compiles torch's `start + step * i`.
    public static func torchLinspace(_ start: Float, _ end: Float, count: Int) -> [Float] {
        guard count > 1 else { return count == 1 ? [start] : [] }
        let step = (end - start) / Float(count - 1)
        let halfway = count / 2
        return (0..<count).map { i in
            i < halfway ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(count - i - 1))
        }
    }
}
